from __future__ import annotations

from django.apps import AppConfig

__all__ = ["BroadcastConfig"]


class BroadcastConfig(AppConfig):
    name = "echo.broadcast"
    label = "echo_broadcast"
    verbose_name = "Broadcast channels"

    def ready(self) -> None:
        from echo.sse.signals import application_ready

        from . import conf  # noqa: F401 - declares its settings for the check
        from .mode import report

        application_ready.connect(report, dispatch_uid="echo.broadcast.mode")
