"""The contracts between the toolkit's modules and the code around it, as `typing.Protocol`s.

A server adapter (`echo.server`) or a feature (sessions, broadcast) meets the toolkit through
these shapes, never through each other's classes: a `send` that may also write at once, a receive
queue that can be watched, a stream that can be ended from outside, an observer of streams.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .event import ServerSentEvent
    from .info import EndReason, StreamInfo

__all__ = [
    "DirectSend",
    "EndableStream",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "StreamObserver",
    "WatchableInbox",
]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]


class DirectSend(Protocol):
    """An ASGI `send` that can also write a middle part of a response body synchronously.

    `write_now(body)` writes at once and returns True, or returns False (nothing written) when
    the server would not take it now; the caller then sends the usual way.
    """

    async def __call__(self, message: Message) -> None: ...

    def write_now(self, body: bytes) -> bool: ...


class WatchableInbox(Protocol):
    """A connection's receive queue whose messages can be watched by a callback, without a task.

    `watch(callback)` returns the messages already waiting; None stops watching.
    """

    def put_nowait(self, message: Any) -> None: ...

    async def get(self) -> Any: ...

    def watch(self, watcher: Callable[[Any], None] | None) -> list[Any]: ...


class EndableStream(Protocol):
    """A live stream as the registry keeps it: its record, and a way to end it from outside."""

    @property
    def info(self) -> StreamInfo: ...

    def end_stream(self, reason: EndReason, final: ServerSentEvent | None = None) -> None: ...


class StreamObserver(Protocol):
    """Told when a stream opens and when it ends; must not block the event loop.

    `stream_opened` may await (it runs before the first event); `stream_closed` is a plain call
    from the stream's `finally` and is made only for a stream whose opening it was told about.
    """

    async def stream_opened(self, info: StreamInfo, request: HttpRequest | None) -> None: ...

    def stream_closed(self, info: StreamInfo) -> None: ...
