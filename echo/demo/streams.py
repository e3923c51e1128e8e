"""The echo streams of the reference article, as plain typed async generators.

Timing follows an absolute schedule (start + n * interval) rather than sleeping a fixed time
after each event, so a slow consumer or a busy loop delays an event but never shifts the ones
after it. `interval=0` never sleeps: it yields to the event loop every `_BURST` events.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import itertools
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime

from pydantic import BaseModel, Field

from echo.sse import BaseEvent, ServerSentEvent, event_source, merge
from echo.sse.wire.iterators import aclose

__all__ = [
    "Echo",
    "EchoPayload",
    "EchoText",
    "ReverseEcho",
    "Start",
    "composite_ids",
    "echo",
    "echo_and_reverse",
    "echo_untyped",
    "parse_composite_id",
    "reverse_echo",
    "take",
    "ticks",
]


# With interval=0, events between two visits to the event loop: the server writes them out in one
# go (Twisted joins what is written before it next polls the socket), not one syscall each.
_BURST = 64
# reverse_echo n is due when echo n+1 is; this much later, so the two never swap.
_TIE_BREAK = 1e-4


class EchoPayload(BaseModel):
    message: str
    created_at: datetime = Field(default_factory=datetime.now)


class Echo(BaseEvent[EchoPayload]):
    pass


class ReverseEcho(BaseEvent[EchoPayload]):
    pass


class EchoText(BaseEvent[str]):
    """`/sse`'s event: the article's untyped `echo`, its data a Python dict's text (not JSON)."""

    event_name = "echo"
    data_format = "text"


class Start:
    """One start time for several sources: the event loop's time when the first of them starts.

    A view may build its streams outside the event loop (a sync view runs in a worker thread),
    so the time is read when a source first runs, not when the view makes it.
    """

    __slots__ = ("_time",)

    def __init__(self) -> None:
        self._time: float | None = None

    def time(self, loop: asyncio.AbstractEventLoop) -> float:
        if self._time is None:
            self._time = loop.time()
        return self._time


async def ticks(
    interval: float, *, delay: float = 0.0, start: float | Start | None = None
) -> AsyncGenerator[int, None]:
    """0, 1, 2, ... the n-th at `start + delay + (n + 1) * interval` (loop time; start: now)."""
    if interval == 0:
        for n in itertools.count():
            if n % _BURST == 0:
                await asyncio.sleep(0)  # let the loop (other clients, disconnects) run now and then
            yield n
    loop = asyncio.get_running_loop()
    if start is None:
        start = loop.time()
    elif isinstance(start, Start):
        start = start.time(loop)
    origin = start + delay
    # `_wake` reads no context variable, so every timer of this stream can share one empty
    # context: `call_at` would otherwise copy the task's context each time, one more object per
    # waiting stream for the garbage collector to walk.
    context = contextvars.Context()
    for n in itertools.count():
        # An absolute deadline (call_at), not `sleep(when - now)`: two sources that share a start
        # wake in the order of their deadlines, whatever the time spent between computing them.
        # Awaited here, not in a helper coroutine: its frame would be held by every waiting stream.
        waiter = loop.create_future()
        handle = loop.call_at(origin + (n + 1) * interval, _wake, waiter, context=context)
        try:
            await waiter
        finally:
            handle.cancel()
        del waiter, handle
        yield n


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def echo_untyped(message: str, interval: float, first_id: int = 0) -> AsyncIterator[ServerSentEvent]:
    """`/sse`: the article's untyped stream, a dict's repr with a float timestamp as data."""
    # Each `ticks` is closed here when its stream is: a generator left to the garbage collector
    # is closed by a task the event loop makes for it, one more task and wake-up per stream.
    # (`try`/`finally` rather than `aclosing()`: no object more per held stream.)
    beats = ticks(interval)
    try:
        async for n in beats:
            data = {"message": message, "created_at": time.time()}
            yield ServerSentEvent(id=first_id + n, event="echo", data=str(data))
    finally:
        await beats.aclose()


@event_source
async def echo(message: str, interval: float, start: float | Start | None = None) -> AsyncIterator[Echo]:
    beats = ticks(interval, start=start)
    try:
        async for _ in beats:
            yield Echo.create(EchoPayload(message=message))
    finally:
        await beats.aclose()


@event_source
async def reverse_echo(
    message: str, interval: float, start: float | Start | None = None
) -> AsyncIterator[ReverseEcho]:
    """Starts one interval after `echo`, as in the article; on a tie with `echo`, just after it."""
    beats = ticks(interval, delay=interval + _TIE_BREAK if interval else 0.0, start=start)
    try:
        async for _ in beats:
            yield ReverseEcho.create(EchoPayload(message=message[::-1]))
    finally:
        await beats.aclose()


def echo_and_reverse(
    message: str, interval: float, resume_from: dict[str, int] | None = None
) -> AsyncIterator[ServerSentEvent]:
    """`/sse3`. With `resume_from` (a composite id read back), each source goes on after its id.

    Both sources count from one start, so `echo` n+1 and `reverse_echo` n (due together) always
    come in the article's order.
    """
    start = Start()
    if resume_from is None:
        return merge(echo(message, interval, start), reverse_echo(message, interval, start))
    return composite_ids(
        merge(
            echo.resume(resume_from.get(Echo.event_name, -1) + 1, message, interval, start),
            reverse_echo.resume(resume_from.get(ReverseEcho.event_name, -1) + 1, message, interval, start),
        ),
        resume_from,
    )


COMPOSITE_ID = re.compile(r"[a-z_]{1,40}:[0-9]{1,18}(,[a-z_]{1,40}:[0-9]{1,18}){0,9}")


def parse_composite_id(raw: str) -> dict[str, int]:
    """`echo:3,reverse_echo:2` -> {"echo": 3, "reverse_echo": 2}; ValueError for anything else."""
    if not COMPOSITE_ID.fullmatch(raw):
        raise ValueError(f"not a composite id: {raw!r}")
    positions = {name: int(number) for name, _, number in (part.partition(":") for part in raw.split(","))}
    unknown = set(positions) - {Echo.event_name, ReverseEcho.event_name}
    if unknown:
        raise ValueError(f"not a composite id of /sse3: unknown source {sorted(unknown)}")
    return positions


async def composite_ids(
    stream: AsyncIterator[ServerSentEvent], positions: dict[str, int] | None = None
) -> AsyncIterator[ServerSentEvent]:
    """Give each event of a merged stream an id that says where *every* source is.

    The article's /sse3 numbers each source from 0, so `id: 1` names two events and a client
    cannot resume from it. `echo:2,reverse_echo:1` names one position of the merged stream.
    """
    seen = dict(positions or {})
    try:
        async for event in stream:
            if event.event is not None and event.id is not None:
                seen[event.event] = int(event.id)
            yield dataclasses.replace(event, id=",".join(f"{name}:{number}" for name, number in seen.items()))
    finally:
        await aclose(stream)


def take(stream: AsyncIterator[ServerSentEvent], limit: int | None) -> AsyncIterator[ServerSentEvent]:
    """The first `limit` events of `stream`, which is closed after them; for None, `stream` itself."""
    if limit is None:
        return stream  # no generator around it: an open stream costs one frame less, for hours
    return _take(stream, limit)


async def _take(stream: AsyncIterator[ServerSentEvent], limit: int) -> AsyncIterator[ServerSentEvent]:
    try:
        count = 0
        async for event in stream:
            yield event
            count += 1
            if count == limit:
                return
    finally:
        await aclose(stream)
