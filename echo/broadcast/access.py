"""Who may read which broadcast channel: django-eventstream's channel-manager hook.

Set as `EVENTSTREAM_CHANNELMANAGER_CLASS`, so django-eventstream's own views and GRIP responses
apply the same rules as ours. Every channel is public except `user-<id>`, which only that user
may read.
"""

from __future__ import annotations

import re
from typing import Any

from django_eventstream.channelmanager import DefaultChannelManager

__all__ = ["CHANNEL_NAME", "ChannelManager", "valid_channel"]

# No ':' or ',' (they separate parts of a multi-channel event id) and nothing a header could split on.
CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def valid_channel(name: str) -> bool:
    return CHANNEL_NAME.fullmatch(name) is not None


class ChannelManager(DefaultChannelManager):  # type: ignore[misc]
    def can_read_channel(self, user: Any, channel: str) -> bool:
        if channel.startswith("user-"):
            return bool(user is not None and user.is_authenticated and channel == f"user-{user.pk}")
        return True

    def is_channel_reliable(self, channel: str) -> bool:
        return True
