"""The `ECHO` keys the Daphne adapter reads (see `echo.sse.conf`): each optimisation on its own."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from echo.sse.conf import Section, lazy
from echo.sse.glue.redact import SECRET_NAMES

__all__ = ["ServerSettings", "app_settings"]


class ServerSettings(Section):
    owner: ClassVar[str] = "echo.server"

    # A connection's first write in a loop turn goes to the socket at once when nothing is queued
    # (`echo.server.transport`), instead of a loop turn later through Twisted's buffer.
    DAPHNE_DIRECT_WRITES: bool = True
    # Each connection's messages arrive in an `echo.sse.runtime.inbox.Inbox`, watched without a task,
    # instead of an `asyncio.Queue` and a task parked on it per stream.
    DAPHNE_INBOX: bool = True
    # A middle part of a response body goes straight to Twisted's `Request.write`
    # (`echo.server.send`), and a broadcast hub can write to a waiting stream at once.
    DAPHNE_DIRECT_SEND: bool = True
    # Bytes queued for one connection before its stream's `send` waits (back-pressure; Twisted's
    # transport buffer size on the connections `echo.server.Server` makes with direct writes on,
    # Twisted's own 64 KiB otherwise).
    SEND_HIGH_WATER: Annotated[int, Field(ge=1024)] = 65536
    # Query parameters the access log shows as `name=[redacted]` (declared by echo.sessions too,
    # for its rows, with the same meaning: `echo.sse.glue.redact`).
    SECRET_QUERY_PARAMETERS: Annotated[tuple[str, ...], Field(strict=False)] = SECRET_NAMES


app_settings: ServerSettings = lazy(ServerSettings)
