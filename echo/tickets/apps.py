from __future__ import annotations

from django.apps import AppConfig

__all__ = ["TicketsConfig"]


class TicketsConfig(AppConfig):
    name = "echo.tickets"
    label = "echo_tickets"
    verbose_name = "Stream tickets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from echo.sse import add_observer
        from echo.sse.apps import ready_toolkit

        from . import checks as ticket_checks
        from . import conf  # noqa: F401 - declares its settings for the check
        from .revoke import watch

        ready_toolkit()
        checks.register(ticket_checks.check_cors)
        checks.register(ticket_checks.check_middleware)
        checks.register(ticket_checks.check_redacted)
        add_observer(watch)
        try:
            from corsheaders.signals import check_request_enabled
        except ImportError:
            return  # echo.E010 names it when STREAM_ORIGINS asks for CORS
        from .cors import allow_stream_origin

        check_request_enabled.connect(allow_stream_origin, dispatch_uid="echo.tickets.cors")
