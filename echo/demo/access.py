"""The demo's channel rules: the broadcast defaults, and the `demo` channel open to anyone."""

from __future__ import annotations

from typing import Any

from echo.broadcast.access import ChannelManager

__all__ = ["DEMO_CHANNEL", "DemoChannelManager"]

DEMO_CHANNEL = "demo"


class DemoChannelManager(ChannelManager):
    def can_publish_channel(self, user: Any, channel: str) -> bool:
        # The live page's form publishes here for any visitor (its text length is bounded).
        return channel == DEMO_CHANNEL or super().can_publish_channel(user, channel)
