"""Test settings with the product's channel rules (only `demo` open to anonymous publishers)."""

from tests.settings import *  # noqa: F403

EVENTSTREAM_CHANNELMANAGER_CLASS = "echo.demo.access.DemoChannelManager"
