"""The contracts between the toolkit's modules and the code around it, as `typing.Protocol`s.

A server adapter (`echo.server`) or a feature (sessions, broadcast) meets the toolkit through
these shapes, never through each other's classes: a `send` that may also write at once, a receive
queue that can be watched, a stream that can be ended from outside, an observer of streams. The
ones the toolkit meets at run time are checked with `isinstance`, so what an object offers is read
from its type, never probed by attribute name: `runtime_checkable` Protocols where a check is rare,
ABCs (`DirectSend`, `WatchableInbox`, which a server's classes subclass) where it is made for
every stream or request, since an ABC's check is cached per class and a Protocol's is not.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..wire.encode import ServerSentEvent
    from ..wire.endings import EndReason
    from ..wire.typed_events import BaseEvent
    from .stream_info import StreamInfo

__all__ = [
    "Declaration",
    "DirectSend",
    "EndableStream",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "StreamObserver",
    "StreamView",
    "WatchableInbox",
]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]


class DirectSend(abc.ABC):
    """An ASGI `send` that can also write a middle part of a response body synchronously.

    `write_now(body)` writes at once and returns True, or returns False (nothing written) when
    the server would not take it now; the caller then sends the usual way. An ABC, not a
    runtime-checkable Protocol: it is checked once per stream, where a Protocol's `isinstance`
    costs microseconds and an ABC's is a cache lookup. A server's send subclasses or registers it.
    """

    @abc.abstractmethod
    async def __call__(self, message: Message) -> None: ...

    @abc.abstractmethod
    def write_now(self, body: bytes) -> bool: ...


class WatchableInbox(abc.ABC):
    """A connection's receive queue whose messages can be watched by a callback, without a task.

    `watch(callback)` returns the messages already waiting; None stops watching. A server hands
    it to the application in the scope (`echo.sse.runtime.inbox.offer`), beside the `receive` it serves.
    An ABC for the reason `DirectSend` is one (checked on every request).
    """

    @abc.abstractmethod
    def put_nowait(self, message: Any) -> None: ...

    @abc.abstractmethod
    async def get(self) -> Any: ...

    @abc.abstractmethod
    def watch(self, watcher: Callable[[Any], None] | None) -> list[Any]: ...


class EndableStream(Protocol):
    """A live stream as the registry keeps it: its record, and a way to end it from outside."""

    @property
    def info(self) -> StreamInfo: ...

    def end_stream(self, reason: EndReason, final: ServerSentEvent | None = None) -> None: ...


@runtime_checkable
class StreamObserver(Protocol):
    """Told when a stream opens and when it ends; must not block the event loop.

    `stream_opened` may await (it runs before the first event); `stream_closed` is a plain call
    from the stream's `finally` and is made only for a stream whose opening it was told about.
    `flush(timeout)` writes what it keeps to write later, waiting at most `timeout` seconds, and
    says whether all of it was written: a graceful shutdown and `echo.sse.glue.testing` call it from a
    worker thread.
    """

    async def stream_opened(self, info: StreamInfo, request: HttpRequest | None) -> None: ...

    def stream_closed(self, info: StreamInfo) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...


class Declaration(Protocol):
    """What a view declares it sends (`echo.sse.glue.contract.StreamContract`), as its response reads it."""

    @property
    def names(self) -> frozenset[str]: ...

    @property
    def events(self) -> tuple[type[BaseEvent[Any]], ...]: ...


@runtime_checkable
class StreamView(Protocol):
    """A view marked by `echo.sse.glue.asgi.stream_view` (the mark is copied by `functools.wraps`)."""

    echo_stream_view: bool

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
