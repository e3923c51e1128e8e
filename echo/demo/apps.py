from __future__ import annotations

from django.apps import AppConfig

__all__ = ["DemoConfig"]


class DemoConfig(AppConfig):
    name = "echo.demo"
    label = "echo_demo"
    verbose_name = "Echo demo"

    def ready(self) -> None:
        from echo.broadcast.channels import declare_channel
        from echo.broadcast.rules import anyone
        from echo.sse.apps import ready_toolkit

        from . import conf  # noqa: F401 - declares its settings for the check
        from .access import DEMO_CHANNEL
        from .messages import ChatMessage

        ready_toolkit()
        # The live page's form publishes here for any visitor (its text length is bounded).
        declare_channel(
            DEMO_CHANNEL,
            ChatMessage,
            description="The live page's chat: anyone may publish.",
            read=anyone,
            publish=anyone,
        )
