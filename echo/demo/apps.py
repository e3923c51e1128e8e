from __future__ import annotations

from django.apps import AppConfig

__all__ = ["DemoConfig"]


class DemoConfig(AppConfig):
    name = "echo.demo"
    label = "echo_demo"
    verbose_name = "Echo demo"

    def ready(self) -> None:
        from echo.broadcast.event_types import register_event_type
        from echo.sse.apps import ready_toolkit

        from . import conf  # noqa: F401 - declares its settings for the check
        from .messages import ChatMessage
        from .streams import Echo, ReverseEcho

        ready_toolkit()
        register_event_type(ChatMessage, Echo, ReverseEcho)
