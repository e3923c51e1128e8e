"""Who may read, and who may publish to, which broadcast channel: django-eventstream's
channel-manager hook.

`ChannelManager` is the default: `channel_manager()` returns it unless the site names another
in `EVENTSTREAM_CHANNELMANAGER_CLASS` (which django-eventstream's own views and GRIP responses
also read). It answers from the channels' declarations (`declare_channel(..., read=...,
publish=...)`, `echo.broadcast.channels`): an undeclared channel is neither readable nor
publishable. `publish()` in Python code asks nothing: it is the server's own code.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from django.conf import settings

from .channels import CHANNEL_NAME, PUBLISH_PERMISSION, find_channel, valid_channel
from .eventstream import DefaultChannelManager, load_class

__all__ = [
    "CHANNEL_NAME",
    "PUBLISH_PERMISSION",
    "ChannelManager",
    "PublishAccess",
    "channel_manager",
    "valid_channel",
]


@runtime_checkable
class PublishAccess(Protocol):
    """A channel manager that says who may publish over HTTP (echo's `ChannelManager` does;
    django-eventstream's `DefaultChannelManager` does not, and then nobody may)."""

    def can_publish_channel(self, user: Any, channel: str) -> bool: ...


class ChannelManager(DefaultChannelManager):  # type: ignore[misc]
    def can_read_channel(self, user: Any, channel: str) -> bool:
        """May `user` (None for an anonymous visitor) subscribe to `channel`?"""
        spec = find_channel(channel)
        return spec is not None and spec.may_read(user, channel)

    def can_publish_channel(self, user: Any, channel: str) -> bool:
        """May `user` (None for an anonymous visitor) publish to `channel` over HTTP?"""
        spec = find_channel(channel)
        return spec is not None and spec.may_publish(user, channel)

    def is_channel_reliable(self, channel: str) -> bool:
        return True


_DEFAULT = "echo.broadcast.access.ChannelManager"


def channel_manager() -> Any:
    """The site's channel manager (`EVENTSTREAM_CHANNELMANAGER_CLASS`), echo's by default."""
    return load_class(getattr(settings, "EVENTSTREAM_CHANNELMANAGER_CLASS", None) or _DEFAULT)
