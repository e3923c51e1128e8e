"""The echo streams of the reference article, as plain typed async generators.

Timing follows an absolute schedule (start + n * interval) rather than sleeping a fixed time
after each event, so a slow consumer or a busy loop delays an event but never shifts the ones
after it. `interval=0` never sleeps: it only yields to the event loop between events.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import datetime

from pydantic import BaseModel, Field

from .sse import BaseEvent, ServerSentEvent, event_source, merge
from .sse._utils import aclose

__all__ = [
    "Echo",
    "EchoPayload",
    "ReverseEcho",
    "echo",
    "echo_and_reverse",
    "echo_untyped",
    "reverse_echo",
    "take",
    "ticks",
]


class EchoPayload(BaseModel):
    message: str
    created_at: datetime = Field(default_factory=datetime.now)


class Echo(BaseEvent[EchoPayload]):
    pass


class ReverseEcho(BaseEvent[EchoPayload]):
    pass


async def ticks(interval: float, *, delay: float = 0.0) -> AsyncIterator[int]:
    """0, 1, 2, ... the n-th at `delay + (n + 1) * interval` seconds from now."""
    if interval == 0:
        for n in itertools.count():
            await asyncio.sleep(0)
            yield n
    loop = asyncio.get_running_loop()
    start = loop.time() + delay
    for n in itertools.count():
        await asyncio.sleep(max(0.0, start + (n + 1) * interval - loop.time()))
        yield n


async def echo_untyped(message: str, interval: float) -> AsyncIterator[ServerSentEvent]:
    """`/sse`: the article's untyped stream, a dict's repr with a float timestamp as data."""
    async for n in ticks(interval):
        data = {"message": message, "created_at": time.time()}
        yield ServerSentEvent(id=n, event="echo", data=str(data))


@event_source
async def echo(message: str, interval: float) -> AsyncIterator[Echo]:
    async for _ in ticks(interval):
        yield Echo.create(EchoPayload(message=message))


@event_source
async def reverse_echo(message: str, interval: float) -> AsyncIterator[ReverseEcho]:
    """Starts one interval after `echo`, as in the article."""
    async for _ in ticks(interval, delay=interval):
        yield ReverseEcho.create(EchoPayload(message=message[::-1]))


def echo_and_reverse(message: str, interval: float) -> AsyncIterator[ServerSentEvent]:
    return merge(echo(message, interval), reverse_echo(message, interval))


async def take(stream: AsyncIterator[ServerSentEvent], limit: int | None) -> AsyncIterator[ServerSentEvent]:
    """The first `limit` events of `stream` (all of them for None), closing it either way."""
    try:
        count = 0
        async for event in stream:
            yield event
            count += 1
            if count == limit:
                return
    finally:
        await aclose(stream)
