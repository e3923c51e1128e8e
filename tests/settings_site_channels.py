"""Test settings with a site's own declarations alone (`tests.apps.SiteChannelsConfig`, not the
tests' catch-all `{channel}`) and the product's channel manager: `orders-{id}` declared with no
read rule, `inbox-{id}` readable and publishable by its user, `demo` as the demo declares it."""

from tests.settings import *  # noqa: F403

EVENTSTREAM_CHANNELMANAGER_CLASS = "echo.broadcast.access.ChannelManager"
INSTALLED_APPS = [
    *(app for app in INSTALLED_APPS if app != "tests.apps.TestChannelsConfig"),  # noqa: F405
    "tests.apps.SiteChannelsConfig",
]
# `orders-{id}` is the mistake echo.E009 names; the server still starts, and refuses its readers.
SILENCED_SYSTEM_CHECKS = ["echo.E009"]
