"""Who may read, and who may publish to, which broadcast channel: django-eventstream's
channel-manager hook.

`ChannelManager` is the default: `channel_manager()` returns it unless the site names another
in `EVENTSTREAM_CHANNELMANAGER_CLASS` (which django-eventstream's own views and GRIP responses
also read). Every channel is readable except `user-<id>`, which only that user may read.
Publishing over HTTP is a separate question, `can_publish_channel`: by default only
superusers and users with the `echo_broadcast.publish` permission. `publish()` in Python code
asks nothing: it is the server's own code.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django_eventstream.channelmanager import DefaultChannelManager

__all__ = ["CHANNEL_NAME", "PUBLISH_PERMISSION", "ChannelManager", "channel_manager", "valid_channel"]

PUBLISH_PERMISSION = "echo_broadcast.publish"

# No ':' or ',' (they separate parts of a multi-channel event id) and nothing a header could split on.
CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def valid_channel(name: str) -> bool:
    return CHANNEL_NAME.fullmatch(name) is not None


class ChannelManager(DefaultChannelManager):  # type: ignore[misc]
    def can_read_channel(self, user: Any, channel: str) -> bool:
        if channel.startswith("user-"):
            return bool(user is not None and user.is_authenticated and channel == f"user-{user.pk}")
        return True

    def can_publish_channel(self, user: Any, channel: str) -> bool:
        """May `user` (None for an anonymous visitor) publish to `channel` over HTTP?"""
        if user is None or not user.is_authenticated:
            return False
        return bool(user.is_superuser or user.has_perm(PUBLISH_PERMISSION))

    def is_channel_reliable(self, channel: str) -> bool:
        return True


_DEFAULT = "echo.broadcast.access.ChannelManager"


def channel_manager() -> Any:
    """The site's channel manager (`EVENTSTREAM_CHANNELMANAGER_CLASS`), echo's by default."""
    from django_eventstream.utils import get_class

    return get_class(getattr(settings, "EVENTSTREAM_CHANNELMANAGER_CLASS", None) or _DEFAULT)
