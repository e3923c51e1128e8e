"""`DirectWriteServer`: a Twisted TCP connection that sends a write at once when the socket takes it.

Twisted's TCP transport buffers every `write()` and asks the reactor to watch the socket for
writability; on the next loop turn it sends the buffer and stops watching. Under Daphne's asyncio
reactor that is two `epoll_ctl` calls, two loop callbacks and a turn of latency for each event a
stream sends. `asyncio`'s own transports (uvicorn's) try `send()` first and only buffer what the
kernel did not take; `DirectWriteServer` does the same for the first write of a connection in a
loop turn. Later writes in the same turn (a burst of events produced together) take Twisted's
ordinary path, which joins them into one send on the next turn; so does anything the kernel did not
take, and every write while data is still queued. Order, producer pausing, TLS and closing
therefore behave exactly as before.

Only the ports `echo.server.Server` opens hand out these connections (`Server.listen_success`).

Private attributes of Twisted read here (Twisted 26.10.0; docs/upstream.md, tested by
`tests/server/test_upstream.py`):
`tcp.Connection.TLS`, `dataBuffer`, `_tempDataLen`, `_writeDisconnecting`, `_writeDisconnected`,
`socket`, `connected`, `disconnecting`, the constructor's arguments (passed on as they come), and
`bufferSize` (public, set per connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from twisted.internet import tcp

from .conf import app_settings

__all__ = ["DirectWriteServer", "Turns", "turns"]


class Turns:
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


turns = Turns()


class DirectWriteServer(tcp.Server):
    """A TCP server connection whose first write in a loop turn goes to the socket at once."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Twisted pauses the connection's producer past this many queued bytes (back-pressure).
        self.bufferSize = app_settings.SEND_HIGH_WATER
        # Set here with the others: an attribute first set later grows every connection's dict.
        self._direct_turn = -1

    def _send_now(self, data: bytes) -> bytes:
        """Send what the kernel takes now; return the part Twisted still has to queue."""
        if (
            self._direct_turn == turns.current
            or self.TLS
            or not self.connected
            or self.disconnecting
            or self._writeDisconnecting
            or self._writeDisconnected
            or self.dataBuffer
            or self._tempDataLen
        ):
            return data
        if not turns.sent():
            return data
        self._direct_turn = turns.current
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
