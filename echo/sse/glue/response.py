"""`EventStreamResponse`: an async `StreamingHttpResponse` that speaks SSE.

The response holds the headers and iterates: it encodes what its source yields, checks it against
what the view declared, and tells observers when the stream opens and ends. The rest of the
stream's life is its `StreamRun`'s (`echo.sse.runtime.run`): how it ends, keep-alive, slow clients, and the
two ways of serving it. Under echo's handler (`echo.sse.glue.asgi`) the response is given the raw ASGI
`send` (`attach_sender`) and its source runs in the request's own task; under any other handler
(Django's stock one) the source runs in a pump task. Either way `end_stream()` (an operator's
terminate, a graceful shutdown) wakes the response to send a final event and end the body cleanly.

Closing is deterministic: the handler consumes `aiter(response)` under `aclosing()`, and this
class's generator closes the pump and the source in its `finally`, so a client that goes away runs
the stream's `finally` at once rather than whenever the garbage collector gets to it.

Django's private details it relies on (the request's closer, to let the request go once the
stream starts, and the encoded parts, returned by `__aiter__` as they are) are read through
`echo.sse.glue.django_internals` (docs/upstream.md).
"""

from __future__ import annotations

import contextvars
import enum
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any, Final, TypeAlias

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import ResponseHeaders

from ..conf import app_settings
from ..exceptions import StreamTypeError
from ..runtime.protocols import Declaration, Send, StreamObserver
from ..runtime.pump import END, IDLE, WAKE, Pump
from ..runtime.registry import Refusal, registry
from ..runtime.run import PING, StreamMode, StreamRun
from ..runtime.shutdown import final_event, shutdown
from ..runtime.stream_info import StreamInfo
from ..wire.encode import ServerSentEvent
from ..wire.endings import EndReason, StreamEnd
from ..wire.typed_events import BaseEvent
from .django_internals import resource_closers, streaming_iterator
from .http import client_address

__all__ = [
    "COMPLETED_EVENT",
    "DEFAULT",
    "ERROR_EVENT",
    "EventStreamComplete",
    "EventStreamResponse",
    "StreamItem",
    "current_response",
]

logger = logging.getLogger("echo.sse")

# `StreamEnd`: the source ends its stream with a reason of its own (echo.sse.wire.endings).
StreamItem: TypeAlias = ServerSentEvent | BaseEvent[Any] | str | StreamEnd

# The final event of a stream whose source raised: no details (they are in the server's log).
ERROR_EVENT: Final = (EndReason.ERROR.final_event() or ServerSentEvent()).encode()
# The last event of a stream whose source ran out: without it a client cannot tell the end from a
# dropped connection, and comes back for ever.
COMPLETED_EVENT: Final = EndReason.COMPLETED.final_event() or ServerSentEvent()

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

    `ping` (seconds) and `retry` (milliseconds) default to the `ECHO` settings; `None` turns either
    off. Bind the request (`request=` or `EventStreamMiddleware`) so that a HEAD request is answered
    with headers alone and observers (the session recorder) know who listens. `name` names the
    stream for observers (by default, the event types it sends); `record=False` keeps them out."""

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
        self.source = _checked(stream)
        self.ping = app_settings.PING_INTERVAL if ping is DEFAULT else ping
        self.retry = _checked_retry(app_settings.RETRY if retry is DEFAULT else retry)
        self.record = record
        self.request: HttpRequest | None = None
        self.info = StreamInfo(name=name or "", named_by_view=bool(name))
        self._run = StreamRun(self.info, self.ping)
        self._admitted = False
        self.declared: frozenset[str] | None = None  # the names `declare`d; None: not checked
        super().__init__(self._encoded(), status=status, headers={**_HEADERS, **(headers or {})})
        if request is not None:
            self.bind(request)

    def bind(self, request: HttpRequest) -> None:
        """Tie the response to its request; done by `EventStreamMiddleware` when the view did not."""
        if self.request is not None:
            return
        self.request = request
        _describe(self.info, request)
        if request.method == "HEAD":
            self.streaming_content = _empty()

    def declare(self, contract: Declaration) -> None:
        """Check every event sent against `contract` (done by `@declare` on the view)."""
        self.declare_names(contract.names)
        if not self.info.named_by_view and len(contract.events) == 1:
            self.info.name = contract.events[0].event_name

    def declare_names(self, names: frozenset[str]) -> None:
        """Check every event sent against these names (control events are the caller's to add)."""
        self.declared = names

    def attach_sender(self, send: Send) -> None:
        """Called by `echo.sse.glue.asgi.ASGIHandler`: stream without a pump task (`echo.sse.runtime.run`)."""
        self._run.attach(send)

    def headers_sent(self) -> None:
        """Called by `echo.sse.glue.asgi.ASGIHandler` once the server has the response's start: the
        headers are not read again, and a stream is kept open for hours."""
        self.headers = ResponseHeaders({})

    def write_now(self, event: ServerSentEvent) -> bool:
        """Send `event` at once (its source only; see `StreamRun.write_now`); False: not sent."""
        return self._run.write_now(event)

    def end_stream(self, reason: EndReason, final: ServerSentEvent | None = None) -> None:
        """Finish the stream from outside: send `final` (if any) and end the response cleanly."""
        self._run.end(reason, final)

    def end_slow(self) -> None:
        """End a stream whose client stopped reading (what `echo.sse.runtime.liveness` does to its run)."""
        self._run.end_slow()

    @property
    def ended_slow(self) -> bool:
        return self._run.slow

    @property
    def writes_now(self) -> bool:
        """Whether `write_now` can write at all (echo's handler, a server `send` that can)."""
        return self._run.write_body is not None

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
        # The encoded parts themselves, not a generator around them (one more resumption per event).
        parts: AsyncIterator[bytes] = streaming_iterator(self)
        return parts

    async def _encoded(self) -> AsyncIterator[bytes]:
        run, info, declared = self._run, self.info, self.declared
        watchers, mode = _begin(self, run)
        outcome = _Outcome()
        try:
            try:
                yield await _open(self, watchers)
                # In this frame, one event a turn: a generator around it is a resumption per event.
                while run.ending is None:
                    item = await mode.next()
                    if item is WAKE:
                        continue
                    if item is IDLE:
                        info.bytes_sent += len(PING)
                        yield PING
                        continue
                    if item is END:
                        run.source_ended(EndReason.COMPLETED, COMPLETED_EVENT)
                        continue
                    if isinstance(item, StreamEnd):
                        run.source_ended(item.reason, _final_of(item))
                        continue
                    event = to_event(item)
                    if declared is not None and event.data is not None and event.event not in declared:
                        _undeclared(info, event)
                    chunk = event.encode()
                    info.sent(event, len(chunk))
                    del item, event  # not kept while the stream waits for the next one
                    run.sending = True  # until the server's send takes it (`StreamRun.stalled`)
                    yield chunk
                    run.sending = False
                    run.last_write = _monotonic()
                outcome.reason, final = run.ending
                if final is not None:
                    yield _counted(info, final.encode())
            except Exception as exc:  # noqa: BLE001 - logged with its traceback by `failed`
                outcome.failed(info, exc)
                del exc
            if outcome.error and app_settings.ERROR_EVENT:
                yield _counted(info, ERROR_EVENT)
        finally:
            await _finish(self, run, outcome, watchers)

    def _release_request(self) -> None:
        # The stream may run for hours; what it needs of the request is in `info` by now, so
        # let the request (META, session, resolver match...) go instead of keeping it alive.
        request, self.request = self.request, None
        _close_request(self, request)


class EventStreamComplete(HttpResponse):
    """What a view answers a client that comes back to a stream with nothing more to send (it
    read the `completed` event, or resumes after the last id): 204 No Content, the answer that
    stops a browser's `EventSource` for good (WHATWG HTML, "fail the connection"), and
    `echo.client`. No stream starts, so none is registered or recorded."""

    status_code = 204

    def __init__(self) -> None:
        super().__init__()
        del self["Content-Type"]  # no body to describe


def _close_request(response: EventStreamResponse, request: object) -> None:
    # Django's handler registered the request's own `close` among the response's closers. (Not
    # a request: Django's test client sets `response.request` to the dict it built one from.)
    if not isinstance(request, HttpRequest):
        return
    close = request.close
    closers = resource_closers(response)
    for closer in list(closers):
        if closer == close:
            closers.remove(closer)
            closer()


def _describe(info: StreamInfo, request: HttpRequest) -> None:
    info.path = request.path
    info.query = request.META.get("QUERY_STRING", "")
    info.client = client_address(request)
    info.user_agent = request.META.get("HTTP_USER_AGENT", "")


def _checked(stream: AsyncIterable[StreamItem]) -> AsyncIterable[StreamItem]:
    if not isinstance(stream, AsyncIterable):
        kind = "a sync iterable" if isinstance(stream, Iterable) else type(stream).__name__
        raise StreamTypeError(
            f"EventStreamResponse needs an async iterable, got {kind}: Django's ASGI handler "
            "would read a sync iterator to its end in a thread before sending anything"
        )
    return stream


def _checked_retry(retry: int | None) -> int | None:
    if retry is not None:
        ServerSentEvent(retry=retry)  # validates now rather than mid-stream
    return retry


def _begin(response: EventStreamResponse, run: StreamRun) -> tuple[list[StreamObserver], StreamMode]:
    """The stream starts: registered, told to end at once if the server is stopping, served."""
    registry.register(response)
    if shutdown.in_progress:
        run.end(EndReason.SERVER_SHUTDOWN, final_event())
    _current.set(response)
    mode = run.start(aiter(response.source))
    if isinstance(mode, Pump):
        _warn_stock_handler()
    return registry.observers() if response.record else [], mode


async def _open(response: EventStreamResponse, watchers: list[StreamObserver]) -> bytes:
    """The observers told, the request let go: the body's first part."""
    for observer in watchers:
        await observer.stream_opened(response.info, response.request)
    response._release_request()
    if response.retry is None:
        # An empty body part makes Daphne write the status line and headers now, so the
        # client's `open` does not wait for the first event.
        return b""
    return _counted(response.info, ServerSentEvent(retry=response.retry).encode())


async def _finish(
    response: EventStreamResponse, run: StreamRun, outcome: _Outcome, watchers: list[StreamObserver]
) -> None:
    """The stream has ended: its reason decided and counted, its source closed, observers told."""
    info = response.info
    info.end(run.reason(outcome.reason), outcome.error)
    registry.count_end(info)
    _current.set(None)
    try:
        await run.stop()
    finally:
        for observer in watchers:
            observer.stream_closed(info)


class _Outcome:
    """What the stream's loop saw of its end: a client that left unless it learns otherwise."""

    __slots__ = ("error", "reason")

    def __init__(self) -> None:
        self.reason = EndReason.CLIENT_DISCONNECTED
        self.error = ""

    def failed(self, info: StreamInfo, exc: Exception) -> None:
        # Logged here, once, with its traceback; the body then ends cleanly (a client must not be
        # left waiting on a stream that will send nothing more).
        self.reason, self.error = EndReason.ERROR, f"{type(exc).__name__}: {exc}"
        logger.error("Stream %s ended: its source raised %s", info.path or info.id, self.error, exc_info=exc)


def _counted(info: StreamInfo, chunk: bytes) -> bytes:
    info.bytes_sent += len(chunk)
    return chunk


_warned_undeclared: set[tuple[str, str | None]] = set()


def _undeclared(info: StreamInfo, event: ServerSentEvent) -> None:
    # An error while developing (the stream ends with `error`, the traceback logged); in
    # production the event still goes out and the mismatch is logged once per (stream, event name)
    # pair, for the process's first 1,000 pairs.
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
