"""`Server`: Daphne's server with echo's optimisations, each switchable (`echo.server.conf`).

Reached through Daphne's own extension points: `daphne.cli.CommandLineInterface.server_class`
(`python -m echo.server`, see `echo.server.cli`) and the `runserver` command's `server_cls`
(`echo.server.management.commands.runserver`). Nothing of Daphne or Twisted is replaced
process-wide: the transport change applies to the ports this server opens, and the inbox and the
send to the connections it makes.

Daphne's and Twisted's details relied on here (Daphne 4.2.3, Twisted 26.10.0; docs/upstream.md,
tested by `tests/server/test_upstream.py`): the methods overridden, `create_application(protocol,
scope)` (what Daphne's does: `self.connections[protocol]["application_instance"]`, the
application called with `scope=`, `receive=`, `send=`; Daphne's request puts its messages on what
it returns and tests it with `if self.application_queue:`, hence `DaphneInbox`; the scope is a
fresh dict per request, so the inbox is named in its `extensions`, `echo.sse.runtime.inbox.offer`),
`listen_success(port)` (called with each port as it opens, before the reactor runs) and
`log_action(protocol, action, details)` (the access log, `details["path"]` the request's target;
`action_logger`, None without one);
`tcp.Port.transport` (the class of the connections a port accepts, read per accept);
`http_factory` and `verbosity` (Daphne sends Twisted's log nowhere at 1 or less), Twisted's
`HTTPFactory.logFile` set to None (its `log` then writes nothing; the factory has started, so
`startFactory` will not set it again); `run`
(public) sends `echo.sse.runtime.startup.application_ready` first."""

from __future__ import annotations

import asyncio
from typing import Any

from daphne.server import Server as DaphneServer
from twisted.internet import tcp

from echo.sse.glue.redact import redact_target
from echo.sse.runtime.inbox import Inbox, offer
from echo.sse.runtime.startup import announce_ready

from .conf import app_settings
from .send import DirectSend, FlowSend
from .transport import DirectWriteServer

__all__ = ["DaphneInbox", "Server"]


class DaphneInbox(Inbox):
    """An `Inbox` for a Daphne connection: Daphne's request tests `if self.application_queue:`
    for "has an application", so an empty one must still be true."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return True


class Server(DaphneServer):  # type: ignore[misc]
    def run(self) -> None:
        # The process starts serving now: features say how they run (once per process).
        announce_ready(Server)
        super().run()

    def log_action(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if not self.action_logger:
            return  # no access log (`-v 0`): nothing to redact either
        # The access log (Daphne's, and runserver's) shows a request's query without credentials,
        # as the session rows keep it (SECRET_QUERY_PARAMETERS).
        path = details.get("path")
        if isinstance(path, str) and "?" in path:
            details = {**details, "path": redact_target(path, app_settings.SECRET_QUERY_PARAMETERS)}
        super().log_action(protocol, action, details)

    def listen_success(self, port: Any) -> None:
        factory = getattr(port, "factory", None)
        if self.verbosity <= 1 and factory is not None and factory is self.http_factory:
            # Twisted formats a combined-log line for every request and hands it to its log, which
            # Daphne sends nowhere at this verbosity: a factory with no log file formats nothing.
            # The access log people read is Daphne's own (`log_action`), unaffected.
            factory.logFile = None
        # A port's `transport` is the class of the connections it accepts; set on this port only.
        if app_settings.DAPHNE_DIRECT_WRITES and type(port) is tcp.Port and port.transport is tcp.Server:
            # An instance attribute of this port (Twisted reads `self.transport` per accept); the
            # class, and every other port, keep Twisted's.
            port.transport = DirectWriteServer  # type: ignore[assignment]
        super().listen_success(port)

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        # As Daphne's, with an Inbox (smaller, watched without a task; DAPHNE_INBOX) in place of
        # an asyncio.Queue, and a send that waits while the client's connection is full (always)
        # and writes body parts straight to Twisted (DAPHNE_DIRECT_SEND) in place of
        # `partial(self.handle_reply, protocol)`.
        assert "application_instance" not in self.connections[protocol]
        inbox: Any = asyncio.Queue()
        if app_settings.DAPHNE_INBOX:
            inbox = DaphneInbox()
            offer(scope, inbox)  # the handler watches it for the disconnect, without a task
        send: Any = (
            DirectSend(self, protocol) if app_settings.DAPHNE_DIRECT_SEND else FlowSend(self, protocol)
        )
        scope.setdefault("asgi", {"version": "3.0"})
        instance = self.application(scope=scope, receive=inbox.get, send=send)
        if protocol not in self.connections:  # gone while the application was being made
            if asyncio.iscoroutine(instance):
                instance.close()
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(instance)
        return inbox
