"""The test servers' own declarations: every channel a test names carries the demo's event types
(tests publish to channels of their own; the demo declares `demo` and `user-{id}` exactly)."""

from __future__ import annotations

from django.apps import AppConfig


class TestChannelsConfig(AppConfig):
    name = "tests"
    label = "echo_tests"

    def ready(self) -> None:
        from echo.broadcast.channels import declare_channel
        from echo.demo.messages import ChatMessage
        from echo.demo.streams import Echo, ReverseEcho

        declare_channel("{channel}", ChatMessage, Echo, ReverseEcho, description="Any channel a test names.")
