"""`EventStreamResponse`: an async `StreamingHttpResponse` that speaks SSE.

Keep-alive without disturbing the stream: the source runs in a task of its own (the *pump*) that
hands items over through a one-slot queue, so the response can wait for the next item with a
deadline and write a `:` comment when the deadline passes, without cancelling the source
mid-step. When no ping is wanted the source is iterated directly, with no extra task.

Closing is deterministic: Django's ASGI handler consumes `aiter(response)` under `aclosing()`, and
this class's `__aiter__` closes the pump and the source in its `finally`, so a client that goes
away runs the stream's `finally` at once rather than whenever the garbage collector gets to it.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any, Final, TypeAlias

from django.http import HttpRequest, StreamingHttpResponse

from ._utils import aclose
from .event import ServerSentEvent
from .events import BaseEvent
from .exceptions import StreamTypeError

__all__ = ["DEFAULT", "EventStreamResponse", "StreamItem"]

StreamItem: TypeAlias = ServerSentEvent | BaseEvent[Any] | str

PING: Final = ServerSentEvent(comment="ping").encode()

_HEADERS: Final = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    # Tells nginx (and proxies that copy it) not to buffer the response.
    "X-Accel-Buffering": "no",
}


class _Default(enum.Enum):
    DEFAULT = enum.auto()


DEFAULT: Final = _Default.DEFAULT


def encode_item(item: object) -> bytes:
    if isinstance(item, ServerSentEvent):
        return item.encode()
    if isinstance(item, BaseEvent):
        return item.to_sse().encode()
    if isinstance(item, str):
        return ServerSentEvent(data=item).encode()
    raise StreamTypeError(
        f"an event stream yields ServerSentEvent, BaseEvent or str, not {type(item).__name__}"
    )


class EventStreamResponse(StreamingHttpResponse):
    """Stream `stream` to the client as `text/event-stream`.

    `ping` (seconds) and `retry` (milliseconds) default to the `ECHO` settings; `None` turns
    either off. Bind the request (`request=` or `EchoMiddleware`) so that a HEAD request is
    answered with headers alone, without starting the stream.
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
        self.request: HttpRequest | None = None
        super().__init__(self._encoded(), status=status, headers={**_HEADERS, **(headers or {})})
        if request is not None:
            self.bind(request)

    def bind(self, request: HttpRequest) -> None:
        """Tie the response to its request; done by `EchoMiddleware` when the view did not."""
        if self.request is not None:
            return
        self.request = request
        if request.method == "HEAD":
            self.streaming_content = _empty()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        parts: AsyncIterator[bytes] = self._iterator  # type: ignore[attr-defined]
        try:
            async for part in parts:
                yield part
        finally:
            await aclose(parts)

    async def _encoded(self) -> AsyncIterator[bytes]:
        if self.retry is not None:
            yield ServerSentEvent(retry=self.retry).encode()
        if not self.ping:
            source = aiter(self.source)
            try:
                async for item in source:
                    yield encode_item(item)
            finally:
                await aclose(source)
            return
        pump = _Pump(self.source)
        try:
            while True:
                item = await pump.next(self.ping)
                if item is _END:
                    return
                yield PING if item is _IDLE else encode_item(item)
        finally:
            await pump.aclose()


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class _Marker(enum.Enum):
    END = enum.auto()
    IDLE = enum.auto()


_END: Final = _Marker.END
_IDLE: Final = _Marker.IDLE


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

    async def next(self, idle_after: float) -> Any:
        """The next item, `_END` when the source ran out, or `_IDLE` after `idle_after` seconds."""
        if self._queue.empty():
            try:
                async with asyncio.timeout(idle_after):
                    item = await self._queue.get()
            except TimeoutError:
                return _IDLE
        else:
            item = self._queue.get_nowait()
        if isinstance(item, _Failure):
            raise item.error
        return item

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.exception()
