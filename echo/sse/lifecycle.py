"""What the toolkit knows about each open stream, and who gets told when one opens or ends.

`EventStreamResponse` creates a `StreamInfo` when it starts streaming, keeps its counters current
(plain attribute increments, no I/O), registers itself in the process-wide live registry, and tells
every registered `StreamObserver`. Observers must not block the event loop: the session recorder
in the `echo` app only queues work for its writer thread.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .event import ServerSentEvent
    from .response import EventStreamResponse

__all__ = [
    "EndReason",
    "StreamInfo",
    "StreamObserver",
    "add_observer",
    "live_streams",
    "observers",
    "remove_observer",
]


class EndReason(enum.StrEnum):
    COMPLETED = "completed"
    CLIENT_DISCONNECTED = "client_disconnected"
    SERVER_SHUTDOWN = "server_shutdown"
    TERMINATED = "terminated"
    ERROR = "error"


def _now() -> datetime:
    return datetime.now(UTC)


# Stream ids: a random 64-bit prefix drawn once per process, then a counter. Unique across
# processes and cheap: uuid4() asks the OS for randomness on every stream, which costs a system
# call per connection (hundreds of microseconds on some virtual machines).
_id_state: dict[str, Any] = {}


def _new_id_prefix() -> None:
    _id_state["prefix"] = int.from_bytes(os.urandom(8), "big") << 64
    _id_state["count"] = itertools.count(1)


_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)  # a forked worker must not repeat its parent's ids


def new_stream_id() -> uuid.UUID:
    return uuid.UUID(int=_id_state["prefix"] | next(_id_state["count"]))


@dataclass(slots=True)
class StreamInfo:
    id: uuid.UUID = field(default_factory=new_stream_id)
    name: str = ""
    path: str = ""
    query: str = ""
    client: str | None = None
    user_agent: str = ""
    user_id: int | None = None
    started_at: datetime = field(default_factory=_now)
    ended_at: datetime | None = None
    events_sent: int = 0
    bytes_sent: int = 0
    last_event_id: str = ""
    end_reason: EndReason | None = None
    error: str = ""
    # Without a name given by the view, the stream is named after the event types it has sent,
    # in the order they first appeared: `echo`, then `echo+reverse_echo`.
    named_by_view: bool = False
    event_names: list[str] = field(default_factory=list)

    def sent(self, event: ServerSentEvent, size: int) -> None:
        """Count `event`, `size` bytes on the wire, as sent."""
        self.events_sent += 1
        self.bytes_sent += size
        if event.id is not None:
            self.last_event_id = str(event.id)
        self.saw_event(event.event)

    def saw_event(self, event_name: str | None) -> None:
        name = event_name or "message"
        if name not in self.event_names:
            self.event_names.append(name)
            if not self.named_by_view:
                self.name = "+".join(self.event_names)

    def end(self, reason: EndReason, error: str = "") -> None:
        self.ended_at = _now()
        self.end_reason = reason
        self.error = error


class StreamObserver(Protocol):
    async def stream_opened(self, info: StreamInfo, request: HttpRequest | None) -> None: ...

    def stream_closed(self, info: StreamInfo) -> None: ...


_observers: list[StreamObserver] = []
_live: dict[uuid.UUID, EventStreamResponse] = {}
# Waiters for "no stream left"; `unregister` may run in a worker thread (Django calls
# `response.close()` through `sync_to_async`), so each waiter is woken on its own loop.
_idle_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []


def add_observer(observer: StreamObserver) -> None:
    if observer not in _observers:
        _observers.append(observer)


def remove_observer(observer: StreamObserver) -> None:
    if observer in _observers:
        _observers.remove(observer)


def observers() -> list[StreamObserver]:
    return list(_observers)


def live_streams() -> Iterator[EventStreamResponse]:
    """The responses streaming in this process right now."""
    return iter(list(_live.values()))


def register(response: EventStreamResponse) -> None:
    _live[response.info.id] = response


def unregister(response: EventStreamResponse) -> None:
    _live.pop(response.info.id, None)
    if not _live:
        for loop, idle in list(_idle_waiters):
            loop.call_soon_threadsafe(idle.set)


async def wait_until_idle() -> None:
    """Return once no stream is live in this process."""
    waiter = (asyncio.get_running_loop(), asyncio.Event())
    _idle_waiters.append(waiter)
    try:
        if _live:
            await waiter[1].wait()
    finally:
        _idle_waiters.remove(waiter)


def find(stream_id: uuid.UUID) -> EventStreamResponse | None:
    return _live.get(stream_id)
