"""Daphne's `send` for one connection: `FlowSend` waits while the client's connection is full,
`DirectSend` adds a short path for the middle of a body.

Both also give a status Twisted has no reason phrase for (429, say: Twisted sends
`429 Unknown Status`) its standard phrase, between Daphne's handling of the response start and the
first write, which is when Twisted writes the status line.

Private attributes of Daphne and Twisted read here (Daphne 4.2.3, Twisted 26.10.0; docs/upstream.md,
tested by `tests/server/test_upstream.py`): `WebRequest._response_started`, `Request.finished`,
`Request._disconnected`, `Request.channel`, `Request.channel.transport`, `Server.connections`
and its per-connection `"disconnected"` key (set when the client goes), `Server.handle_reply`
(a coroutine), and Twisted's `Request.write` called unbound (Daphne's `WebRequest` does not
override it), and what it does with a part of a body whose headers are out (`startedWriting`) on
an HTTP/1.1 `HTTPChannel`: `sentLength` counts it and, with `chunked` set, it goes to the
channel's transport framed as one chunk (else as it is); public: `Request.registerProducer`,
`unregisterProducer`, `Request.code`, `Request.startedWriting`, `Request.setResponseCode`,
`twisted.web.http.RESPONSES` (read only), `ITCPTransport.abortConnection`.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from twisted.web.http import RESPONSES, HTTPChannel
from twisted.web.http import Request as _TwistedRequest

from echo.sse.runtime.protocols import DirectSend as DirectSendContract
from echo.sse.runtime.protocols import Message

from .flow import FlowControl

__all__ = ["DirectSend", "FlowSend", "reason_phrase"]


def reason_phrase(code: object) -> bytes | None:
    """The standard reason phrase of an HTTP status code (RFC 9110's, as `http.HTTPStatus` has
    it), or None for a code it does not know."""
    try:
        return HTTPStatus(code).phrase.encode("ascii")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class FlowSend:
    """Daphne's `send` for one connection (its `handle_reply`), waiting while the client's
    connection is full (`echo.server.flow`): a stream then stops pulling its source.

    The producer is registered when the response starts and unregistered with its last part
    (Twisted refuses a second producer on a kept-alive connection's next request otherwise). A
    send cancelled while it waits (the stream ended as a slow client, say) aborts the connection:
    the body cannot be finished, and what is queued for it is dropped.
    """

    __slots__ = ("_flow", "_protocol", "_server")

    def __init__(self, server: Any, protocol: Any) -> None:
        self._server = server
        self._protocol = protocol
        self._flow: FlowControl | None = None

    async def __call__(self, message: Message) -> None:
        await self._room()
        await self._reply(message)

    async def _room(self) -> None:
        """Wait while the connection is full; a cancelled wait aborts the connection."""
        flow = self._flow
        if flow is not None and flow.paused:
            try:
                await flow.wait()
            except asyncio.CancelledError:
                self._abort()
                raise

    async def _reply(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body" and not message.get("more_body"):
            self._unregister()
        await self._server.handle_reply(self._protocol, message)
        if kind == "http.response.start":
            self._name_status()
            self._register()

    def _name_status(self) -> None:
        """Give the status its standard reason phrase where Twisted knows none; the status line
        is not written yet (Twisted writes it with the first part of the body)."""
        protocol = self._protocol
        code = protocol.code
        if protocol._response_started and not protocol.startedWriting and code not in RESPONSES:
            phrase = reason_phrase(code)
            if phrase is not None:
                protocol.setResponseCode(code, phrase)

    def _register(self) -> None:
        protocol = self._protocol
        if self._flow is None and protocol._response_started and protocol.channel is not None:
            self._flow = FlowControl()
            protocol.registerProducer(self._flow, True)

    def _unregister(self) -> None:
        if self._flow is not None:
            self._flow = None
            if self._protocol.channel is not None:
                self._protocol.unregisterProducer()

    def _abort(self) -> None:
        protocol = self._protocol
        channel = protocol.channel
        if channel is not None and not protocol._disconnected and channel.transport is not None:
            channel.transport.abortConnection()


class DirectSend(FlowSend, DirectSendContract):
    """`FlowSend` with a short path for the middle parts of a body.

    Each part of a response body Daphne gets goes through two `handle_reply` methods (one a
    coroutine) that check the message, log it at debug level and hand it to Twisted's
    `Request.write`. A stream sends every event that way; here a body part with more to come,
    on a response Daphne has started and not finished, goes to `Request.write` after the same
    checks. Everything else (the start, the last part, anything malformed) is Daphne's.
    `write_now` is that short path as a plain call, for `EventStreamResponse.write_now`
    (`echo.sse.runtime.protocols.DirectSend` is the contract); it refuses while the connection is full.
    """

    __slots__ = ("_state",)

    def __init__(self, server: Any, protocol: Any) -> None:
        super().__init__(server, protocol)
        # Daphne's record of the connection, made with the request and kept until it has gone
        # (it is where "disconnected" is set): looked up once, not once per event written.
        state = server.connections.get(protocol)
        self._state: dict[str, Any] = {"disconnected": True} if state is None else state

    def write_now(self, body: bytes) -> bool:
        """Write a middle part of the body now, as Daphne would; False when Daphne would not, or
        while the client's connection is full."""
        protocol = self._protocol
        flow = self._flow
        if (
            flow is None
            or flow.paused
            or protocol.finished
            or protocol._disconnected
            or protocol.channel is None
        ):
            return False
        if "disconnected" in self._state:
            return False
        channel = protocol.channel
        if not protocol.startedWriting or not body or type(channel) is not HTTPChannel:
            # The headers, an empty part, or a channel that is not HTTP/1.1's (HTTP/2's streams
            # have no transport of their own): Twisted's own write.
            _TwistedRequest.write(protocol, body)  # type: ignore[no-untyped-call]
            return True
        # What Twisted's `Request.write` does with a later part of a started body (its checks are
        # the ones above), without its three calls: a fan-out makes one of these per subscriber.
        protocol.sentLength += len(body)
        transport: Any = channel.transport  # the connection (Twisted types it as an optional interface)
        transport.write(b"%x\r\n%b\r\n" % (len(body), body) if protocol.chunked else body)
        return True

    async def __call__(self, message: Message) -> None:
        await self._room()
        if (
            message.get("more_body")
            and message["type"] == "http.response.body"
            and self.write_now(message.get("body", b""))
        ):
            return
        await self._reply(message)
