from __future__ import annotations

from django.apps import AppConfig
from django.core import checks

__all__ = ["SseConfig"]


class SseConfig(AppConfig):
    """The toolkit as an app: only its system checks (nothing of it needs the app registry)."""

    name = "echo.sse"
    label = "echo_sse"
    verbose_name = "Server-sent events"

    def ready(self) -> None:
        from . import checks as sse_checks

        checks.register(sse_checks.check_daphne_first, checks.Tags.compatibility)
        checks.register(sse_checks.check_middleware, checks.Tags.compatibility)
        checks.register(sse_checks.check_settings)
