"""`event_source`: from a generator of typed events to a stream of numbered SSE events."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any, ParamSpec

from ._utils import aclose
from .event import ServerSentEvent
from .events import BaseEvent

__all__ = ["event_source"]

P = ParamSpec("P")


def event_source(
    func: Callable[P, AsyncIterator[BaseEvent[Any]]],
) -> Callable[P, AsyncIterator[ServerSentEvent]]:
    """Number the events of `func` from 0 and serialise each payload as JSON.

    The wrapper closes the wrapped generator when it is closed itself, so a stream cut short by
    a client that went away still runs the generator's `finally`.
    """

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[ServerSentEvent]:
        events = func(*args, **kwargs)
        try:
            index = 0
            async for event in events:
                yield event.to_sse(id=index)
                index += 1
        finally:
            await aclose(events)

    return wrapper
