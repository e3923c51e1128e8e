from __future__ import annotations

from django.apps import AppConfig

__all__ = ["BroadcastConfig"]


class BroadcastConfig(AppConfig):
    name = "echo.broadcast"
    label = "echo_broadcast"
    verbose_name = "Broadcast channels"

    def ready(self) -> None:
        from . import conf  # noqa: F401 - declares its settings for the check
