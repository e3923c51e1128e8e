from __future__ import annotations

from django.apps import AppConfig

__all__ = ["SessionsConfig"]


class SessionsConfig(AppConfig):
    name = "echo.sessions"
    label = "echo_sessions"
    # The breadcrumb reads "Home > Event streams > Stream sessions", not the model twice.
    verbose_name = "Event streams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.core import checks
        from django.db.models.signals import post_save, pre_delete

        from echo.sse.apps import ready_toolkit
        from echo.sse.runtime.registry import registry
        from echo.sse.runtime.startup import application_ready

        from . import checks as session_checks
        from . import (
            conf,  # noqa: F401 - declares its settings for the check
            schema,
            users,
        )
        from .recorder import recorder

        ready_toolkit()
        checks.register(session_checks.check_channel_layer)
        checks.register(session_checks.check_connections)

        # Always an observer; whether a stream is recorded is read as it opens (RECORD_SESSIONS).
        registry.add_observer(recorder)
        user_model = get_user_model()
        post_save.connect(users.user_saved, sender=user_model, dispatch_uid="echo.sessions.user_saved")
        pre_delete.connect(users.user_deleted, sender=user_model, dispatch_uid="echo.sessions.user_deleted")
        application_ready.connect(_start_history, dispatch_uid="echo.sessions.history")
        application_ready.connect(schema.report_unapplied, dispatch_uid="echo.sessions.schema")


def _start_history(sender: object, **kwargs: object) -> None:
    from .conf import app_settings
    from .history import history

    history.start(app_settings.DASHBOARD_SAMPLE_INTERVAL)
