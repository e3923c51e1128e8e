"""Under Daphne: send a write at once when the socket takes it, instead of a loop turn later.

Twisted's TCP transport buffers every `write()` and asks the reactor to watch the socket for
writability; on the next loop turn it sends the buffer and stops watching. Under Daphne's asyncio
reactor that is two `epoll_ctl` calls, two loop callbacks and a turn of latency for each event a
stream sends, which costs more than the event itself. `asyncio`'s own transports (uvicorn's)
try `send()` first and only buffer what the kernel did not take; `DirectWriteServer` does the
same for Twisted's TCP server connections, for the first write of a connection in a loop turn.
Later writes in the same turn (a burst of events produced together) take Twisted's ordinary
path, which joins them into one send on the next turn; so does anything the kernel did not take,
and every write while data is still queued. Order, producer pausing, TLS and closing therefore
behave exactly as before.

`install()` makes Twisted's TCP ports accept connections as `DirectWriteServer`, lets Daphne
reach `twisted.web.http` without Twisted's deprecation proxy (see `_bind_daphne_to_http`), and has
Daphne give each connection's application an `echo.sse.inbox.Inbox` instead of an
`asyncio.Queue` and a `_Send` that writes body parts straight to Twisted (see
`_create_application`); `echo.sse.asgi.get_asgi_application()` calls it unless
`ECHO["DAPHNE_DIRECT_WRITES"]` is False.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Iterable
from typing import Any

from twisted.internet import tcp
from twisted.web.http import Request as _TwistedRequest

from .inbox import Inbox

__all__ = ["DirectWriteServer", "install", "installed", "uninstall"]

_ORIGINAL = tcp.Port.transport


class _Turns:
    """Numbers the event loop's turns: one `call_soon` per turn in which a direct send happened."""

    def __init__(self) -> None:
        self.current = 0
        self._scheduled = False

    def sent(self) -> bool:
        """Note a direct send in this turn; False when there is no running loop to count turns."""
        if not self._scheduled:
            try:
                asyncio.get_running_loop().call_soon(self._next)
            except RuntimeError:
                return False
            self._scheduled = True
        return True

    def _next(self) -> None:
        self.current += 1
        self._scheduled = False


_turns = _Turns()


class DirectWriteServer(tcp.Server):
    """A TCP server connection whose first write in a loop turn goes to the socket at once."""

    _direct_turn = -1

    def _send_now(self, data: bytes) -> bytes:
        """Send what the kernel takes now; return the part Twisted still has to queue."""
        if (
            self._direct_turn == _turns.current
            or self.TLS
            or not self.connected
            or self.disconnecting
            or self._writeDisconnecting
            or self._writeDisconnected
            or self.dataBuffer
            or self._tempDataLen
        ):
            return data
        if not _turns.sent():
            return data
        self._direct_turn = _turns.current
        try:
            sent = self.socket.send(data)
        except OSError:
            # Full (EAGAIN), interrupted, or a reset or broken pipe: the queued path retries, and
            # its doWrite reports a lost connection the way Twisted always does.
            return data
        return data[sent:]

    def write(self, data: bytes) -> None:
        if isinstance(data, bytes) and data:
            data = self._send_now(data)
            if not data:
                return
        super().write(data)  # type: ignore[no-untyped-call]  # Twisted's TLS-aware write

    def writeSequence(self, iovec: Iterable[bytes]) -> None:
        chunks = list(iovec)
        try:
            data = b"".join(chunks)
        except TypeError:  # not bytes: Twisted's own writeSequence says what is wrong
            data = b""
        if data:
            rest = self._send_now(data)
            if not rest:
                return
            chunks = [rest]
        super().writeSequence(chunks)  # type: ignore[no-untyped-call]


def _bind_daphne_to_http() -> None:
    """Point Daphne's `http_protocol.http` at `twisted.web.http` itself, not Twisted's proxy.

    `twisted.web.http` has a deprecated attribute, so Twisted puts a proxy module in its place
    whose every attribute read goes through Python code (about 2 us) to check for deprecation.
    Daphne reads `http.Request...` several times per connection (making, finishing and losing
    it) and, for a body part `_Send` leaves to it, per write: before `_Send`, 9 % of the event
    loop's time under fan-out. Only `HTTPClient` is deprecated, which Daphne never reads.
    """
    try:
        from daphne import http_protocol
    except ImportError:
        return
    proxy: Any = http_protocol.http
    # The proxy passes `__class__` through, so only `type()` tells it from a module.
    if type(proxy) is types.ModuleType:
        return
    try:
        module = object.__getattribute__(proxy, "_module")
    except AttributeError:  # not Twisted's proxy after all: leave it
        return
    if type(module) is types.ModuleType and module.Request is proxy.Request:
        _PROXIES[http_protocol] = proxy
        http_protocol.http = module


_PROXIES: dict[Any, Any] = {}


class _Send:
    """Daphne's `send` for one connection, with a short path for the middle parts of a body.

    Each part of a response body Daphne gets goes through two `handle_reply` methods (one a
    coroutine) that check the message, log it at debug level and hand it to Twisted's
    `Request.write`. A stream sends every event that way; here a body part with more to come,
    on a response Daphne has started and not finished, goes to `Request.write` after the same
    checks. Everything else (the start, the last part, anything malformed) is Daphne's.
    `write_now` is that short path as a plain call, for `EventStreamResponse.write_now`.
    """

    __slots__ = ("_protocol", "_server")

    def __init__(self, server: Any, protocol: Any) -> None:
        self._server = server
        self._protocol = protocol

    def write_now(self, body: bytes) -> bool:
        """Write a middle part of the body now, as Daphne would; False when Daphne would not."""
        protocol = self._protocol
        if (
            not protocol._response_started
            or protocol.finished
            or protocol._disconnected
            or protocol.channel is None
        ):
            return False
        state = self._server.connections.get(protocol)
        if state is None or state.get("disconnected"):
            return False
        _TwistedRequest.write(protocol, body)  # type: ignore[no-untyped-call]
        return True

    async def __call__(self, message: dict[str, Any]) -> None:
        if (
            message.get("more_body")
            and message["type"] == "http.response.body"
            and self.write_now(message.get("body", b""))
        ):
            return
        await self._server.handle_reply(self._protocol, message)


def _create_application(server: Any, protocol: Any, scope: dict[str, Any]) -> Inbox | None:
    """`daphne.server.Server.create_application`, with an `Inbox` where Daphne makes an
    `asyncio.Queue` (about 3 KB less per open connection, and the handler can watch it for
    `http.disconnect` without a task, see `echo.sse.asgi`) and a `_Send` for Daphne's `send`.
    The rest is what Daphne does."""
    assert "application_instance" not in server.connections[protocol]
    inbox = Inbox()
    scope.setdefault("asgi", {"version": "3.0"})
    instance = server.application(scope=scope, receive=inbox.get, send=_Send(server, protocol))
    if protocol not in server.connections:  # gone while the application was being made
        if asyncio.iscoroutine(instance):
            instance.close()
        return None
    server.connections[protocol]["application_instance"] = asyncio.ensure_future(instance)
    return inbox


_DAPHNE_CREATE: list[Any] = []


def install() -> None:
    """Make Twisted's TCP ports hand out `DirectWriteServer` connections, and Daphne inboxes.

    Harmless in a process that serves with something else (uvicorn): no Twisted port exists there.
    """
    tcp.Port.transport = DirectWriteServer
    _bind_daphne_to_http()
    try:
        from daphne.server import Server
    except ImportError:
        return
    if Server.create_application is not _create_application:
        _DAPHNE_CREATE[:] = [Server.create_application]
        Server.create_application = _create_application


def uninstall() -> None:
    tcp.Port.transport = _ORIGINAL
    for http_protocol, proxy in _PROXIES.items():
        http_protocol.http = proxy
    _PROXIES.clear()
    if _DAPHNE_CREATE:
        from daphne.server import Server

        Server.create_application = _DAPHNE_CREATE.pop()


def installed() -> bool:
    return tcp.Port.transport is DirectWriteServer
