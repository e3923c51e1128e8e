"""`StreamRun`: a stream's life from its first byte to its last, apart from what it sends.

`EventStreamResponse` holds the headers and iterates its source; its run owns the rest: the end the
stream meets (asked from outside, by its source, or by a client that stops reading; which one wins
is `echo.sse.wire.endings.decide_end`'s), keep-alive and the slow-client watch (both swept by
`echo.sse.runtime.liveness`, one task per process). The source's items reach the response's loop through a
`StreamMode`, one interface for the two ways of serving it:

- `Direct`, under echo's handler (`echo.sse.glue.asgi`), which hands the response the raw ASGI `send`:
  the source is pulled in the request's own task, keep-alive comments go out through that `send`
  from the sweeper, and a server `send` that can write synchronously (`echo.sse.runtime.protocols.DirectSend`)
  lets the source write an event itself (`write_now`, the broadcast hub's fan-out).
- `Pump` (`echo.sse.runtime.pump`), under any other handler: the source runs in a task of its own so the
  loop can wait for the next item with a deadline and write a `:` comment when it passes.

The loop reads the run's attributes itself (`ending`, `sending`, `last_write`): they are touched
once or twice per event, where a method call would be one more call for every event sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, Protocol

from ..wire.encode import ServerSentEvent
from ..wire.endings import EndReason, decide_end
from ..wire.iterators import aclose
from .liveness import pinger
from .protocols import DirectSend, Send
from .pump import END, WAKE, Pump
from .shutdown import shutdown
from .stream_info import StreamInfo

__all__ = ["PING", "Direct", "StreamMode", "StreamRun"]

PING: Final = ServerSentEvent(comment="ping").encode()


class StreamMode(Protocol):
    """How a stream's items reach its loop."""

    async def next(self) -> Any:
        """The next item, or `END` (the source ran out), `WAKE` (an end was asked) or `IDLE`."""

    def wake(self) -> None:
        """An end was asked from outside: make a waiting `next()` return `WAKE` soon."""

    async def aclose(self) -> None:
        """Close the source (its `finally` runs now)."""


class StreamRun:
    """One stream's end state, keep-alive and slow-client watch (see the module docstring)."""

    __slots__ = (
        "_ping_task",
        "_send",
        "_stall",
        "ending",
        "info",
        "last_write",
        "mode",
        "ping",
        "sending",
        "slow",
        "waiting",
        "write_body",
    )

    def __init__(self, info: StreamInfo, ping: float | None) -> None:
        self.info = info
        self.ping = ping
        # The end asked for (reason, final event), first come first kept; None: none yet.
        self.ending: tuple[EndReason, ServerSentEvent | None] | None = None
        self.mode: StreamMode | None = None
        self.waiting = False  # the stream's task waits on its source (direct mode)
        self.last_write = 0.0
        # Slow-client watch: True while a chunk is with the server's `send`, and (bytes sent,
        # when first seen stalled) while it stays there.
        self.sending = False
        self._stall: tuple[int, float] | None = None
        self.slow = False
        self._send: Send | None = None
        self.write_body: Callable[[bytes], bool] | None = None
        self._ping_task: asyncio.Task[None] | None = None

    def attach(self, send: Send) -> None:
        """Serve in direct mode through the raw ASGI `send` (given by echo's handler)."""
        self._send = send
        self.write_body = send.write_now if isinstance(send, DirectSend) else None

    def start(self, source: AsyncIterator[Any]) -> StreamMode:
        mode: StreamMode
        if self._send is not None:
            mode = Direct(self, source)
            self.last_write = time.monotonic()
            pinger.add(self)
        else:
            mode = Pump(source, self.ping)
        self.mode = mode
        return mode

    async def stop(self) -> None:
        """Stop keep-alive and close the source: the stream's `finally`."""
        pinger.discard(self)
        if self._ping_task is not None:
            self._ping_task.cancel()
        # Let go of the mode: `Direct` refers back to the run, a cycle the collector would have
        # to find for every stream.
        mode, self.mode = self.mode, None
        if mode is not None:
            await mode.aclose()

    # -- ending -----------------------------------------------------------------------------------

    def end(self, reason: EndReason, final: ServerSentEvent | None = None) -> None:
        if self.ending is not None:
            return
        self.ending = (reason, final)
        if self.mode is not None:
            self.mode.wake()

    def source_ended(self, reason: EndReason, final: ServerSentEvent | None) -> None:
        """The source ended its stream (`StreamEnd`): as if from outside, and an end asked for
        first still wins."""
        self.ending = self.ending or (reason, final)

    def end_slow(self) -> None:
        """End a stream whose client stopped reading: no final event (it could not be sent)."""
        if self.slow:
            return
        self.slow = True
        self.ending = (EndReason.SLOW_CLIENT, None)
        if isinstance(self.mode, Direct):
            self.mode.cancel()

    def reason(self, seen: EndReason) -> EndReason:
        """The stream's end reason: what its loop saw, ranked (`decide_end`) against what ended it
        around the loop, a client that stopped reading or a server that is stopping."""
        around = [EndReason.SLOW_CLIENT] if self.slow else []
        if shutdown.in_progress:
            around.append(EndReason.SERVER_SHUTDOWN)
        return decide_end(seen, *around)

    # -- direct writes, keep-alive and slow clients (direct mode, `echo.sse.runtime.liveness`) ---------------

    def write_now(self, event: ServerSentEvent) -> bool:
        """Send `event` at once, from outside the stream's task; False when it cannot (nothing sent).

        For a source that hands one event to many streams (the broadcast hub): writing it to each
        waiting connection saves waking every stream's task for it. Only the source knows that it
        holds nothing older for the stream, so only the source may call this, and only while the
        stream waits on it. It needs a server `send` with a synchronous `write_now(body)`
        (`echo.sse.runtime.protocols.DirectSend`, as `echo.server` gives); elsewhere, and while the stream is
        ending, it is False.
        """
        write = self.write_body
        if write is None or not self.waiting or self.ending is not None:
            return False
        chunk = event.encode()
        if not write(chunk):
            return False
        self.info.sent(event, len(chunk))
        self.last_write = time.monotonic()
        return True

    def stalled(self, now: float, timeout: float) -> bool:
        """True once one chunk has been with the server's `send` for `timeout` seconds: the
        client reads nothing and the server's buffer for it is full (a server whose `send` waits
        then: uvicorn's, and echo.server's)."""
        if not self.sending:
            self._stall = None
            return False
        mark = self.info.bytes_sent
        if self._stall is None or self._stall[0] != mark:
            self._stall = (mark, now)
            return False
        return now - self._stall[1] >= timeout

    def ping_due(self, now: float) -> bool:
        return bool(
            self.ping and self.waiting and self._ping_task is None and now - self.last_write >= self.ping
        )

    def start_ping(self) -> None:
        self._ping_task = asyncio.get_running_loop().create_task(self._send_ping())

    async def _send_ping(self) -> None:
        assert self._send is not None
        try:
            await self._send({"type": "http.response.body", "body": PING, "more_body": True})
            self.info.bytes_sent += len(PING)
        except Exception:  # noqa: BLE001 - the response ended meanwhile; nothing to keep alive
            pass
        finally:
            self.last_write = time.monotonic()
            self._ping_task = None


class Direct:
    """The source pulled in the stream's own task; an end asked from outside cancels the wait."""

    __slots__ = ("_interrupted", "_run", "_source", "_task")

    def __init__(self, run: StreamRun, source: AsyncIterator[Any]) -> None:
        self._run = run
        self._source = source
        self._task = asyncio.current_task()
        self._interrupted = False

    async def next(self) -> Any:
        run = self._run
        run.waiting = True
        try:
            return await anext(self._source)
        except StopAsyncIteration:
            return END
        except asyncio.CancelledError:
            task = self._task
            if self._interrupted and task is not None:
                self._interrupted = False
                if task.uncancel() == 0:  # only `wake` asked: go on to the final event
                    return WAKE
            raise
        finally:
            run.waiting = False

    def wake(self) -> None:
        # The stream is waiting on its source: stop the source (its `finally` runs) so the final
        # event can go out now rather than after the source's next item.
        if self._run.waiting and self._task is not None:
            self._interrupted = True
            self._task.cancel()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def aclose(self) -> None:
        await aclose(self._source)
