from __future__ import annotations

from django.apps import AppConfig

__all__ = ["SessionsConfig"]


class SessionsConfig(AppConfig):
    name = "echo.sessions"
    label = "echo_sessions"
    verbose_name = "Stream sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from echo.sse.registry import registry

        from . import conf  # noqa: F401 - declares its settings for the check
        from .recorder import recorder

        # Always an observer; whether a stream is recorded is read as it opens (RECORD_SESSIONS).
        registry.add_observer(recorder)
