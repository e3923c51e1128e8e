"""`EventStreamResponse`: an async `StreamingHttpResponse` that speaks SSE.

Two ways to serve it. Under echo's handler (`echo.sse.asgi`) the response is given the raw ASGI
`send` (`attach_sender`) and its source runs in the request's own task; keep-alive comments go
out through that `send` from one sweeper per process (`echo.sse.pinger`). Under any other handler
(Django's stock one) the source runs in a pump task (`echo.sse.pump`) so the response can wait
for the next item with a deadline and write a `:` comment when it passes, without cancelling the
source mid-step. Either way `end_stream()` (an operator's terminate, a graceful shutdown) wakes the
response to send a final event and end the body cleanly.

Closing is deterministic: the handler consumes `aiter(response)` under `aclosing()`, and this
class's generator closes the pump and the source in its `finally`, so a client that goes away runs
the stream's `finally` at once rather than whenever the garbage collector gets to it.

Django's private details it relies on (the request's closer, to let the request go once the
stream starts, and the encoded parts, returned by `__aiter__` as they are) are read through
`echo.sse.django_internals` (docs/upstream.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
)
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse

from .conf import app_settings
from .django_internals import resource_closers, streaming_iterator
from .endings import StreamEnd, decide_end
from .event import ServerSentEvent
from .events import BaseEvent
from .exceptions import StreamTypeError
from .http import client_address
from .info import EndReason, StreamInfo
from .iterators import aclose
from .pinger import pinger
from .pump import END, IDLE, WAKE, Pump
from .registry import Refusal, registry
from .shutdown import final_event, shutdown
from .types import Send

if TYPE_CHECKING:
    from .contract import StreamContract

__all__ = ["DEFAULT", "ERROR_EVENT", "EventStreamResponse", "StreamItem", "current_response"]

logger = logging.getLogger("echo.sse")

# `StreamEnd`: the source ends its stream with a reason of its own (echo.sse.endings).
StreamItem: TypeAlias = ServerSentEvent | BaseEvent[Any] | str | StreamEnd

PING: Final = ServerSentEvent(comment="ping").encode()
# The final event of a stream whose source raised: no details (they are in the server's log).
ERROR_EVENT: Final = (EndReason.ERROR.final_event() or ServerSentEvent()).encode()

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
        self.ping = app_settings.PING_INTERVAL if ping is DEFAULT else ping
        self.retry = app_settings.RETRY if retry is DEFAULT else retry
        if self.retry is not None:
            ServerSentEvent(retry=self.retry)  # validates now rather than mid-stream
        self.source = stream
        self.record = record
        self.request: HttpRequest | None = None
        self.info = StreamInfo(name=name or "", named_by_view=bool(name))
        self._ending: tuple[EndReason, ServerSentEvent | None] | None = None
        self._pump: Pump | None = None
        # Direct mode (under echo.sse.asgi.ASGIHandler): the raw ASGI send, for pings, and the
        # server's synchronous body write when it has one (see `write_now`).
        self._send: Send | None = None
        self._write_body: Callable[[bytes], bool] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._waiting = False
        self._interrupted = False
        self._last_write = 0.0
        self._ping_task: asyncio.Task[None] | None = None
        self._admitted = False
        # Slow-client watch (`echo.sse.pinger`): True while a chunk is with the server's `send`,
        # and (bytes sent, when first seen stalled) while it stays there.
        self._sending = False
        self._stall: tuple[int, float] | None = None
        self._slow = False
        # The event names the view declared (`echo.sse.contract.declare`); None: not checked.
        self.declared: frozenset[str] | None = None
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
        info.client = client_address(request)
        info.user_agent = request.META.get("HTTP_USER_AGENT", "")
        if request.method == "HEAD":
            self.streaming_content = _empty()

    def declare(self, contract: StreamContract[Any]) -> None:
        """Check every event sent against `contract` (done by `@declare` on the view)."""
        self.declared = contract.names
        if not self.info.named_by_view and len(contract.events) == 1:
            self.info.name = contract.events[0].event_name

    def attach_sender(self, send: Send) -> None:
        """Called by `echo.sse.asgi.ASGIHandler`: stream without a pump task (see the module doc)."""
        self._send = send
        self._write_body = getattr(send, "write_now", None)

    def write_now(self, event: ServerSentEvent) -> bool:
        """Send `event` at once, from outside the stream's task; False when it cannot (nothing sent).

        For a source that hands one event to many streams (the broadcast hub): writing it to each
        waiting connection saves waking every stream's task for it. Only the source knows that it
        holds nothing older for the stream, so only the source may call this, and only while the
        stream waits on it. It needs a server `send` with a synchronous `write_now(body)`
        (`echo.sse.types.DirectSend`, as `echo.server` gives); elsewhere, and while the stream is
        ending, it is False.
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

    def admit(self, *, limit: int | None, per_client: int | None) -> Refusal | None:
        """Count this stream against the limits, until `close()`; a `Refusal` when over one."""
        refusal = registry.admit(self.info.client, limit=limit, per_client=per_client)
        self._admitted = refusal is None
        return refusal

    def close(self) -> None:
        # Django calls this once the last byte has been handed to the server.
        registry.unregister(self)
        if self._admitted:
            self._admitted = False
            registry.release(self.info.client)
        super().close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The encoded parts themselves, not a generator around them (that would be one more
        # resumption per event): Django's handler closes what this returns (`aclosing`).
        parts: AsyncIterator[bytes] = streaming_iterator(self)
        return parts

    async def _encoded(self) -> AsyncIterator[bytes]:
        info = self.info
        watchers = registry.observers() if self.record else []
        registry.register(self)
        if shutdown.in_progress:
            self.end_stream(EndReason.SERVER_SHUTDOWN, final_event())
        reason = EndReason.CLIENT_DISCONNECTED
        error = ""
        failed = False
        direct = self._send is not None
        declared = self.declared
        _current.set(self)
        source = aiter(self.source)
        if direct:
            self._task = asyncio.current_task()
            self._last_write = _monotonic()
            pinger.add(self)
        else:
            _warn_stock_handler()
            self._pump = Pump(source)
        try:
            try:
                for observer in watchers:
                    await observer.stream_opened(info, self.request)
                self._release_request()
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
                    if item is END:
                        reason = EndReason.COMPLETED
                        return
                    if item is WAKE:
                        continue
                    if item is IDLE:
                        info.bytes_sent += len(PING)
                        yield PING
                        continue
                    if isinstance(item, StreamEnd):
                        # As if ended from outside (and an end asked for first still wins).
                        self._ending = self._ending or (item.reason, _final_of(item))
                        continue
                    event = to_event(item)
                    if declared is not None and event.data is not None and event.event not in declared:
                        _undeclared(info, event)
                    chunk = event.encode()
                    info.sent(event, len(chunk))
                    del item, event  # not kept while the stream waits for the next one
                    self._sending = True  # until the server's send takes it (see `stalled`)
                    yield chunk
                    self._sending = False
                    self._last_write = _monotonic()
            except Exception as exc:
                # Logged here, once, with its traceback; the body then ends cleanly (a client must
                # not be left waiting on a stream that will send nothing more).
                reason, error = EndReason.ERROR, f"{type(exc).__name__}: {exc}"
                logger.error(
                    "Stream %s ended: its source raised %s", info.path or info.id, error, exc_info=exc
                )
                failed = True
                del exc
            if failed and app_settings.ERROR_EVENT:
                info.bytes_sent += len(ERROR_EVENT)
                yield ERROR_EVENT
        finally:
            reason = decide_end(reason, *self._ends_around())
            info.end(reason, error)
            registry.count_end(info)
            _current.set(None)
            try:
                if self._pump is not None:
                    await self._pump.aclose()
                else:
                    pinger.discard(self)
                    if self._ping_task is not None:
                        self._ping_task.cancel()
                    await aclose(source)
            finally:
                for observer in watchers:
                    observer.stream_closed(info)

    async def _next_direct(self, source: AsyncIterator[Any]) -> Any:
        self._waiting = True
        try:
            return await anext(source)
        except StopAsyncIteration:
            return END
        except asyncio.CancelledError:
            task = self._task
            if self._interrupted and task is not None:
                self._interrupted = False
                if task.uncancel() == 0:  # only `end_stream` asked: go on to the final event
                    return WAKE
            raise
        finally:
            self._waiting = False

    def _ends_around(self) -> list[EndReason]:
        """What ended the stream besides what its loop saw: a client that stopped reading, a server
        that is stopping (`decide_end` ranks them against the loop's own)."""
        around = [EndReason.SLOW_CLIENT] if self._slow else []
        if shutdown.in_progress:
            around.append(EndReason.SERVER_SHUTDOWN)
        return around

    def _release_request(self) -> None:
        # The stream may run for hours; what it needs of the request is in `info` by now, so
        # let the request (META, session, resolver match...) go instead of keeping it alive.
        request, self.request = self.request, None
        if request is None:
            return
        closers = resource_closers(self)
        for closer in list(closers):
            if getattr(closer, "__self__", None) is request:
                closers.remove(closer)
                closer()

    # -- slow clients under echo's handler (`echo.sse.pinger`) ----------------------------------

    def stalled(self, now: float, timeout: float) -> bool:
        """True once one chunk has been with the server's `send` for `timeout` seconds: the
        client reads nothing and the server's buffer for it is full (a server whose `send` waits
        then: uvicorn's, and echo.server's)."""
        if not self._sending:
            self._stall = None
            return False
        mark = self.info.bytes_sent
        if self._stall is None or self._stall[0] != mark:
            self._stall = (mark, now)
            return False
        return now - self._stall[1] >= timeout

    def end_slow(self) -> None:
        """End a stream whose client stopped reading: no final event (it could not be sent)."""
        if self._slow:
            return
        self._slow = True
        self._ending = (EndReason.SLOW_CLIENT, None)
        if self._task is not None:
            self._task.cancel()

    @property
    def ended_slow(self) -> bool:
        return self._slow

    # -- keep-alive under echo's handler (`echo.sse.pinger`) -----------------------------------

    def ping_due(self, now: float) -> bool:
        return bool(
            self.ping and self._waiting and self._ping_task is None and now - self._last_write >= self.ping
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
            self._last_write = _monotonic()
            self._ping_task = None


_warned_undeclared: set[tuple[str, str | None]] = set()


def _undeclared(info: StreamInfo, event: ServerSentEvent) -> None:
    # An error while developing (the stream ends with `error`, the traceback logged); in
    # production the event still goes out and the mismatch is logged once per stream and name.
    message = f"stream {info.name or info.path!r} sent event {event.event!r}, which its view does not declare"
    if settings.DEBUG:
        raise StreamTypeError(message)
    key = (info.name or info.path, event.event)
    if key not in _warned_undeclared and len(_warned_undeclared) < 1000:
        _warned_undeclared.add(key)
        logger.warning("%s (@declare on the view lists what it sends)", message)


_warned_stock = False


def _warn_stock_handler() -> None:
    # Said once per process: the check (echo.W004) cannot see an application built elsewhere.
    global _warned_stock
    if not _warned_stock:
        _warned_stock = True
        logger.warning(
            "An event stream is served by an ASGI handler other than echo's: each open stream holds "
            "an OS thread, and SLOW_CLIENT_TIMEOUT and the broadcast hub's direct writes are off. "
            "Build the application with echo.sse.asgi.get_asgi_application() (echo.W004)."
        )


def _final_of(end: StreamEnd) -> ServerSentEvent | None:
    """The last event of a stream its source ended: the source's own, else its reason's."""
    if end.final is not None:
        return to_event(end.final)
    return end.reason.final_event(app_settings)


def _monotonic() -> float:
    return time.monotonic()


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator
