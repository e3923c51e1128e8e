"""`event_source`: from a generator of typed events to a stream of numbered SSE events."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, ParamSpec

from .encode import ServerSentEvent
from .iterators import aclose
from .typed_events import BaseEvent

__all__ = ["EventSource", "event_source"]

P = ParamSpec("P")


class EventSource(Generic[P]):
    """A decorated generator function: call it for ids from 0, or `resume(first_id, ...)`."""

    __name__: str
    __qualname__: str

    def __init__(self, func: Callable[P, AsyncIterator[BaseEvent[Any]]]) -> None:
        self._func = func
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[ServerSentEvent]:
        return _numbered(self._func(*args, **kwargs), 0)

    def resume(self, first_id: int, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[ServerSentEvent]:
        """The same stream numbered from `first_id`: for a client that saw `first_id - 1`."""
        if isinstance(first_id, bool) or not isinstance(first_id, int) or first_id < 0:
            raise ValueError(f"first_id must be a non-negative int, not {first_id!r}")
        return _numbered(self._func(*args, **kwargs), first_id)


def event_source(func: Callable[P, AsyncIterator[BaseEvent[Any]]]) -> EventSource[P]:
    """Number the events of `func` from 0 and serialise each payload as JSON.

    The stream closes the wrapped generator when it is closed itself, so a stream cut short by
    a client that went away still runs the generator's `finally`.
    """
    return EventSource(func)


async def _numbered(events: AsyncIterator[BaseEvent[Any]], first_id: int) -> AsyncIterator[ServerSentEvent]:
    try:
        index = first_id
        async for event in events:
            sse = event.to_sse(id=index)
            del event  # a stream waits between events for hours: hold no payload meanwhile
            yield sse
            del sse  # nor the event it sent last
            index += 1
    finally:
        await aclose(events)
