"""Test settings with the product's channel manager: each declaration's rules (only `demo` is open to
anonymous publishers)."""

from tests.settings import *  # noqa: F403

EVENTSTREAM_CHANNELMANAGER_CLASS = "echo.broadcast.access.ChannelManager"
