"""`DirectSend`: Daphne's `send` for one connection, with a short path for the middle of a body.

Private attributes of Daphne and Twisted read here (Daphne 4.2.3, Twisted 26.10.0, tested by
`tests/server/test_upstream.py`): `WebRequest._response_started`, `Request.finished`,
`Request._disconnected`, `Request.channel`, `Server.connections`, `Server.handle_reply`.
"""

from __future__ import annotations

from typing import Any

from twisted.web.http import Request as _TwistedRequest

__all__ = ["DirectSend"]


class DirectSend:
    """Daphne's `send` for one connection, with a short path for the middle parts of a body.

    Each part of a response body Daphne gets goes through two `handle_reply` methods (one a
    coroutine) that check the message, log it at debug level and hand it to Twisted's
    `Request.write`. A stream sends every event that way; here a body part with more to come,
    on a response Daphne has started and not finished, goes to `Request.write` after the same
    checks. Everything else (the start, the last part, anything malformed) is Daphne's.
    `write_now` is that short path as a plain call, for `EventStreamResponse.write_now`
    (`echo.sse.types.DirectSend` is the contract).
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
