from __future__ import annotations

from django.apps import AppConfig

__all__ = ["ServerConfig"]


class ServerConfig(AppConfig):
    """Brings `runserver` on `echo.server.Server` (list it before `daphne` and staticfiles)."""

    name = "echo.server"
    label = "echo_server"
    verbose_name = "Daphne server adapter"

    def ready(self) -> None:
        from echo.sse.apps import ready_toolkit

        from . import conf  # noqa: F401 - declares its settings for the check

        ready_toolkit()
