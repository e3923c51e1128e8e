"""The test servers' own declarations: every channel a test names carries the demo's event types
and is readable by anyone (tests publish to channels of their own; the demo declares `demo`),
except `user-{id}`, which only that user may read."""

from __future__ import annotations

from django.apps import AppConfig


class TestChannelsConfig(AppConfig):
    name = "tests"
    label = "echo_tests"

    def ready(self) -> None:
        from echo.broadcast.channels import declare_channel
        from echo.broadcast.rules import anyone
        from echo.demo.messages import ChatMessage
        from echo.demo.streams import Echo, ReverseEcho

        types = (ChatMessage, Echo, ReverseEcho)
        declare_channel("user-{id}", *types, description="One user's own channel.", read="id")
        declare_channel("{channel}", *types, description="Any channel a test names.", read=anyone)


class SiteChannelsConfig(AppConfig):
    """Per-user channels as a site declares them: one forgetting to say who may read it."""

    name = "tests"
    label = "echo_tests_site"

    def ready(self) -> None:
        from echo.broadcast.channels import declare_channel
        from echo.demo.messages import ChatMessage

        declare_channel("orders-{id}", ChatMessage, description="Private only by its name.")
        declare_channel("inbox-{id}", ChatMessage, description="One user's inbox.", read="id", publish="id")
