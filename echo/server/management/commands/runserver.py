"""`manage.py runserver` on `echo.server.Server`: Daphne's command, through its `server_cls`."""

from __future__ import annotations

from daphne.management.commands.runserver import Command as DaphneRunserver

from echo.server.server import Server

__all__ = ["Command"]


class Command(DaphneRunserver):  # type: ignore[misc]
    server_cls = Server
