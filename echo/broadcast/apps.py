from __future__ import annotations

from django.apps import AppConfig

__all__ = ["BroadcastConfig"]


class BroadcastConfig(AppConfig):
    name = "echo.broadcast"
    label = "echo_broadcast"
    verbose_name = "Broadcast channels"

    def ready(self) -> None:
        from django.core import checks

        from echo.sse.apps import ready_toolkit
        from echo.sse.runtime import state
        from echo.sse.runtime.startup import application_ready

        from . import checks as broadcast_checks
        from . import conf  # noqa: F401 - declares its settings for the check
        from .hub import hub
        from .mode import report
        from .relay import relay

        ready_toolkit()
        checks.register(broadcast_checks.check_storage)
        checks.register(broadcast_checks.check_channel_rules)
        checks.register(broadcast_checks.check_sqlite)
        checks.register(broadcast_checks.check_redis)
        checks.register(broadcast_checks.check_notify)
        checks.register(broadcast_checks.check_grip)
        checks.register(broadcast_checks.check_urls, checks.Tags.urls)
        application_ready.connect(report, dispatch_uid="echo.broadcast.mode")
        state.register_reset("echo.broadcast.hub.hub", hub.reset)
        state.register_reset("echo.broadcast.relay.relay", relay.reset)
