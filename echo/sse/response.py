"""`EventStreamResponse`: an async `StreamingHttpResponse` that speaks SSE.

Keep-alive without disturbing the stream: the source runs in a task of its own (the *pump*) that
hands items over through a one-slot queue, so the response can wait for the next item with a
deadline and write a `:` comment when the deadline passes, without cancelling the source
mid-step. The same queue lets `end_stream()` (an operator's terminate, a graceful shutdown) wake
the response to send a final event and end the body cleanly.

Closing is deterministic: Django's ASGI handler consumes `aiter(response)` under `aclosing()`, and
this class's `__aiter__` closes the pump and the source in its `finally`, so a client that goes
away runs the stream's `finally` at once rather than whenever the garbage collector gets to it.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from typing import Any, Final, TypeAlias

from django.http import HttpRequest, StreamingHttpResponse

from . import lifecycle, shutdown
from ._utils import aclose
from .event import ServerSentEvent
from .events import BaseEvent
from .exceptions import StreamTypeError
from .lifecycle import EndReason

__all__ = ["DEFAULT", "EventStreamResponse", "StreamItem", "current_response"]

StreamItem: TypeAlias = ServerSentEvent | BaseEvent[Any] | str

PING: Final = ServerSentEvent(comment="ping").encode()

_HEADERS: Final = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    # Tells nginx (and proxies that copy it) not to buffer the response.
    "X-Accel-Buffering": "no",
}


_current: contextvars.ContextVar[EventStreamResponse | None] = contextvars.ContextVar(
    "echo_sse_current_response", default=None
)


def current_response() -> EventStreamResponse | None:
    """The `EventStreamResponse` whose source is running, when called from that source."""
    return _current.get()


class _Default(enum.Enum):
    DEFAULT = enum.auto()


DEFAULT: Final = _Default.DEFAULT


def to_event(item: object) -> ServerSentEvent:
    if isinstance(item, ServerSentEvent):
        return item
    if isinstance(item, BaseEvent):
        return item.to_sse()
    if isinstance(item, str):
        return ServerSentEvent(data=item)
    raise StreamTypeError(
        f"an event stream yields ServerSentEvent, BaseEvent or str, not {type(item).__name__}"
    )


class EventStreamResponse(StreamingHttpResponse):
    """Stream `stream` to the client as `text/event-stream`.

    `ping` (seconds) and `retry` (milliseconds) default to the `ECHO` settings; `None` turns
    either off. Bind the request (`request=` or `EventStreamMiddleware`) so that a HEAD request is
    answered with headers alone, without starting the stream, and so that observers (the session
    recorder) know who is listening. `name` names the stream for observers; by default it is named
    after the event types it sends. `record=False` keeps observers out of this stream.
    """

    def __init__(
        self,
        stream: AsyncIterable[StreamItem],
        *,
        ping: float | _Default | None = DEFAULT,
        retry: int | _Default | None = DEFAULT,
        headers: Mapping[str, str] | None = None,
        status: int = 200,
        request: HttpRequest | None = None,
        name: str | None = None,
        record: bool = True,
    ) -> None:
        if not isinstance(stream, AsyncIterable):
            kind = "a sync iterable" if isinstance(stream, Iterable) else type(stream).__name__
            raise StreamTypeError(
                f"EventStreamResponse needs an async iterable, got {kind}: Django's ASGI handler "
                "would read a sync iterator to its end in a thread before sending anything"
            )
        from echo.conf import app_settings  # lazily: the toolkit must import without settings

        self.ping = app_settings.PING_INTERVAL if ping is DEFAULT else ping
        self.retry = app_settings.RETRY if retry is DEFAULT else retry
        if self.retry is not None:
            ServerSentEvent(retry=self.retry)  # validates now rather than mid-stream
        self.source = stream
        self.record = record
        self.request: HttpRequest | None = None
        self.info = lifecycle.StreamInfo(name=name or "", named_by_view=bool(name))
        self._ending: tuple[EndReason, ServerSentEvent | None] | None = None
        self._pump: _Pump | None = None
        # Direct mode (under echo.sse.asgi.ASGIHandler): the raw ASGI send, for pings, and the
        # server's synchronous body write when it has one (see `write_now`).
        self._send: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self._write_body: Callable[[bytes], bool] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._waiting = False
        self._interrupted = False
        self._last_write = 0.0
        self._ping_task: asyncio.Task[None] | None = None
        super().__init__(self._encoded(), status=status, headers={**_HEADERS, **(headers or {})})
        if request is not None:
            self.bind(request)

    def bind(self, request: HttpRequest) -> None:
        """Tie the response to its request; done by `EventStreamMiddleware` when the view did not."""
        if self.request is not None:
            return
        self.request = request
        info = self.info
        info.path = request.path
        info.query = request.META.get("QUERY_STRING", "")
        info.client = request.META.get("REMOTE_ADDR") or None
        info.user_agent = request.META.get("HTTP_USER_AGENT", "")
        if request.method == "HEAD":
            self.streaming_content = _empty()

    def attach_sender(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Called by `echo.sse.asgi.ASGIHandler`: stream without a pump task (see the module doc)."""
        self._send = send
        self._write_body = getattr(send, "write_now", None)

    def write_now(self, event: ServerSentEvent) -> bool:
        """Send `event` at once, from outside the stream's task; False when it cannot (nothing sent).

        For a source that hands one event to many streams (the broadcast hub): writing it to each
        waiting connection saves waking every stream's task for it. Only the source knows that it
        holds nothing older for the stream, so only the source may call this, and only while the
        stream waits on it. It needs a server `send` with a synchronous `write_now(body)` (Daphne
        with `echo.sse.daphne` installed); elsewhere, and while the stream is ending, it is False.
        """
        write = self._write_body
        if write is None or not self._waiting or self._ending is not None:
            return False
        chunk = event.encode()
        if not write(chunk):
            return False
        self.info.sent(event, len(chunk))
        self._last_write = _monotonic()
        return True

    def end_stream(self, reason: EndReason, final: ServerSentEvent | None = None) -> None:
        """Finish the stream from outside: send `final` (if any) and end the response cleanly."""
        if self._ending is not None:
            return
        self._ending = (reason, final)
        if self._pump is not None:
            self._pump.wake()
        elif self._waiting and self._task is not None:
            # The stream is waiting on its source: stop the source (its `finally` runs) so the
            # final event can go out now rather than after the source's next item.
            self._interrupted = True
            self._task.cancel()

    def close(self) -> None:
        # Django calls this once the last byte has been handed to the server.
        lifecycle.unregister(self)
        super().close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The encoded parts themselves, not a generator around them (that would be one more
        # resumption per event): Django's handler closes what this returns (`aclosing`).
        parts: AsyncIterator[bytes] = self._iterator  # type: ignore[attr-defined]
        return parts

    async def _encoded(self) -> AsyncIterator[bytes]:
        info = self.info
        watched = self.record and bool(lifecycle.observers())
        lifecycle.register(self)
        shutdown.install()
        if shutdown.in_progress():
            self.end_stream(EndReason.SERVER_SHUTDOWN, shutdown.final_event())
        if watched:
            for observer in lifecycle.observers():
                await observer.stream_opened(info, self.request)
        self._release_request()
        reason = EndReason.CLIENT_DISCONNECTED
        error = ""
        direct = self._send is not None
        _current.set(self)
        source = aiter(self.source)
        if direct:
            self._task = asyncio.current_task()
            _pinger.add(self)
        else:
            self._pump = _Pump(source)
        try:
            if self.retry is not None:
                chunk = ServerSentEvent(retry=self.retry).encode()
                info.bytes_sent += len(chunk)
                yield chunk
            else:
                # An empty body part makes Daphne write the status line and headers now, so the
                # client's `open` does not wait for the first event.
                yield b""
            while True:
                if self._ending is not None:
                    reason, final = self._ending
                    if final is not None:
                        chunk = final.encode()
                        info.bytes_sent += len(chunk)
                        yield chunk
                    return
                if direct:
                    item = await self._next_direct(source)
                else:
                    assert self._pump is not None
                    item = await self._pump.next(self.ping)
                if item is _END:
                    reason = EndReason.COMPLETED
                    return
                if item is _WAKE:
                    continue
                if item is _IDLE:
                    info.bytes_sent += len(PING)
                    yield PING
                    continue
                event = to_event(item)
                chunk = event.encode()
                info.sent(event, len(chunk))
                del item, event  # not kept while the stream waits for the next one
                yield chunk
                self._last_write = _monotonic()
        except Exception as exc:
            reason, error = EndReason.ERROR, f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if reason is EndReason.CLIENT_DISCONNECTED and shutdown.in_progress():
                reason = EndReason.SERVER_SHUTDOWN
            info.end(reason, error)
            _current.set(None)
            try:
                if self._pump is not None:
                    await self._pump.aclose()
                else:
                    _pinger.discard(self)
                    await aclose(source)
            finally:
                if watched:
                    for observer in lifecycle.observers():
                        observer.stream_closed(info)

    async def _next_direct(self, source: AsyncIterator[Any]) -> Any:
        self._waiting = True
        try:
            return await anext(source)
        except StopAsyncIteration:
            return _END
        except asyncio.CancelledError:
            task = self._task
            if self._interrupted and task is not None:
                self._interrupted = False
                if task.uncancel() == 0:  # only `end_stream` asked: go on to the final event
                    return _WAKE
            raise
        finally:
            self._waiting = False

    def _release_request(self) -> None:
        # The stream may run for hours; what it needs of the request is in `info` by now, so
        # let the request (META, session, resolver match...) go instead of keeping it alive.
        request, self.request = self.request, None
        if request is None:
            return
        closers = self._resource_closers  # type: ignore[attr-defined]
        for closer in list(closers):
            if getattr(closer, "__self__", None) is request:
                closers.remove(closer)
                closer()

    def _idle_for(self, now: float) -> bool:
        return bool(
            self.ping and self._waiting and self._ping_task is None and now - self._last_write >= self.ping
        )

    def _start_ping(self) -> None:
        self._ping_task = asyncio.get_running_loop().create_task(self._send_ping())

    async def _send_ping(self) -> None:
        assert self._send is not None
        try:
            await self._send({"type": "http.response.body", "body": PING, "more_body": True})
            self.info.bytes_sent += len(PING)
        except Exception:  # noqa: BLE001 - the response ended meanwhile; nothing to keep alive
            pass
        finally:
            self._last_write = _monotonic()
            self._ping_task = None


class _Pinger:
    """One task per process that sends keep-alive comments for streams idle too long.

    In direct mode a stream waits on its source in the request's own task, so a ping cannot come
    from that task; instead of a timer or a task per stream, this sweeper looks at every direct
    stream a few times per ping interval.
    """

    def __init__(self) -> None:
        self._streams: set[EventStreamResponse] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, response: EventStreamResponse) -> None:
        response._last_write = _monotonic()
        self._streams.add(response)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._sweep())

    def discard(self, response: EventStreamResponse) -> None:
        self._streams.discard(response)
        if response._ping_task is not None:
            response._ping_task.cancel()

    async def _sweep(self) -> None:
        while self._streams:
            pings = [r.ping for r in self._streams if r.ping]
            await asyncio.sleep(min([_SWEEP_MAX, *(p / 4 for p in pings)]))
            now = _monotonic()
            for response in list(self._streams):
                if response._idle_for(now):
                    response._start_ping()


_SWEEP_MAX = 1.0
_pinger = _Pinger()


def _monotonic() -> float:
    return time.monotonic()


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class _Marker(enum.Enum):
    END = enum.auto()
    IDLE = enum.auto()
    WAKE = enum.auto()


_END: Final = _Marker.END
_IDLE: Final = _Marker.IDLE
_WAKE: Final = _Marker.WAKE


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Pump:
    """Runs a source in its own task, at most one item ahead of the consumer."""

    def __init__(self, source: AsyncIterable[Any]) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
        self._task = asyncio.create_task(self._run(source))

    async def _run(self, source: AsyncIterable[Any]) -> None:
        iterator = aiter(source)
        try:
            async for item in iterator:
                await self._queue.put(item)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            await self._queue.put(_Failure(exc))
        else:
            await self._queue.put(_END)
        finally:
            await aclose(iterator)

    def wake(self) -> None:
        """Make a waiting `next()` return `_WAKE` now (a full queue wakes it anyway)."""
        if self._queue.empty():
            self._queue.put_nowait(_WAKE)

    async def next(self, idle_after: float | None) -> Any:
        """The next item; `_END` when the source ran out; `_IDLE` after `idle_after` seconds."""
        if not self._queue.empty():
            item = self._queue.get_nowait()
        elif idle_after:
            try:
                async with asyncio.timeout(idle_after):
                    item = await self._queue.get()
            except TimeoutError:
                return _IDLE
        else:
            item = await self._queue.get()
        if isinstance(item, _Failure):
            raise item.error
        return item

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.exception()
