"""`echo.streams` pieces that need no server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from echo.demo import streams
from echo.demo.streams import Start
from echo.sse import ServerSentEvent
from echo.sse.wire.iterators import aclose

from ..loops import run


def test_a_shared_start_is_the_loop_time_when_first_read_and_stays() -> None:
    start = Start()  # made outside any event loop, as a sync view makes it

    async def main() -> tuple[float, float, float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        first = start.time(loop)
        await asyncio.sleep(0.01)
        return before, first, start.time(loop), loop.time()

    before, first, again, later = run(main())
    assert before <= first == again < later


def _left_to_the_loop(make: Callable[[], AsyncIterator[ServerSentEvent]]) -> list[str]:
    """The async generators the loop had to close (its finaliser hook) for one stream read to its
    first event and closed, as the handler closes a stream."""

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        firstiter, finalizer = sys.get_asyncgen_hooks()
        left: list[str] = []

        def counted(agen: Any) -> None:
            left.append(agen.__qualname__)
            assert finalizer is not None
            finalizer(agen)

        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=counted)
        try:
            stream = make()
            await anext(stream)
            await aclose(stream)
            del stream
            await asyncio.sleep(0)
        finally:
            sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
        assert loop.is_running()
        return left

    return run(main())


@pytest.mark.parametrize(
    "make",
    [
        lambda: streams.echo_untyped("hello", 0.0),
        lambda: streams.echo("hello", 0.0),
        lambda: streams.echo("hello", 0.01),  # ticks' timer path
        lambda: streams.reverse_echo("hello", 0.0),
        lambda: streams.take(streams.echo("hello", 0.0), 1),
        lambda: streams.echo_and_reverse("hello", 0.0),
        lambda: streams.echo_and_reverse("hello", 0.0, {"echo": 3, "reverse_echo": 2}),
    ],
    ids=["sse", "echo", "echo-timed", "reverse_echo", "limited", "sse3", "sse3-resumed"],
)
def test_a_closed_demo_stream_leaves_no_generator_for_the_loop_to_close(
    make: Callable[[], AsyncIterator[ServerSentEvent]],
) -> None:
    # The loop closes a forgotten generator with a task of its own: one more task per stream.
    assert _left_to_the_loop(make) == []
