"""`merge`: items in the order they become ready, and every source closed however the merge ends.

Order is driven by `asyncio.Event` gates the test opens one at a time, never by timing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import aclosing
from typing import TypeVar

import pytest

from echo.sse import merge as _merge

from ..loops import run

T = TypeVar("T")


def merge(*streams: AsyncIterable[T]) -> AsyncGenerator[T, None]:
    """`echo.sse.wire.merge`, typed as the async generator it is (its annotation says AsyncIterator)."""
    merged = _merge(*streams)
    assert isinstance(merged, AsyncGenerator)
    return merged


async def gated(name: str, gates: list[asyncio.Event], closed: list[str]) -> AsyncIterator[str]:
    """`name0`, `name1`, ... each once its gate opens; records `name` when its `finally` completes."""
    try:
        for n, gate in enumerate(gates):
            await gate.wait()
            yield f"{name}{n}"
    finally:
        await asyncio.sleep(0)  # clean-up that itself awaits must also complete
        closed.append(name)


async def endless(name: str, closed: list[str]) -> AsyncIterator[str]:
    """Ready at once, forever."""
    try:
        n = 0
        while True:
            await asyncio.sleep(0)
            yield f"{name}{n}"
            n += 1
    finally:
        await asyncio.sleep(0)
        closed.append(name)


def never_opening(name: str, closed: list[str]) -> AsyncIterator[str]:
    """Suspended in its own `await` for good: stopping the merge finds it mid-step."""
    return gated(name, [asyncio.Event()], closed)


class Countdown:
    """A plain async iterator: no generator, no `aclose`."""

    def __init__(self, start: int) -> None:
        self.left = start

    def __aiter__(self) -> Countdown:
        return self

    async def __anext__(self) -> int:
        await asyncio.sleep(0)
        if self.left == 0:
            raise StopAsyncIteration
        self.left -= 1
        return self.left


class Countdowns:
    """A plain async iterable that is not itself an iterator."""

    def __init__(self, start: int) -> None:
        self.start = start

    def __aiter__(self) -> Countdown:
        return Countdown(self.start)


def test_merge_yields_items_in_the_order_they_become_ready() -> None:
    async def main() -> tuple[list[str], list[str], list[str]]:
        closed: list[str] = []
        a = [asyncio.Event(), asyncio.Event()]
        b = [asyncio.Event(), asyncio.Event()]
        merged = merge(gated("a", a, closed), gated("b", b, closed))
        order = []
        for gate in (b[0], a[0], a[1], b[1]):
            gate.set()
            order.append(await anext(merged))
        rest = [item async for item in merged]
        return order, rest, closed

    order, rest, closed = run(main())
    assert order == ["b0", "a0", "a1", "b1"]
    assert rest == []
    assert sorted(closed) == ["a", "b"]


def test_merge_keeps_going_when_one_source_ends_early() -> None:
    async def main() -> tuple[list[str], list[str]]:
        closed: list[str] = []
        short = [asyncio.Event()]
        long = [asyncio.Event(), asyncio.Event(), asyncio.Event()]
        merged = merge(gated("short", short, closed), gated("long", long, closed))
        got = []
        for gate in (short[0], long[0], long[1], long[2]):
            gate.set()
            got.append(await anext(merged))
        got.extend([item async for item in merged])
        return got, closed

    got, closed = run(main())
    assert got == ["short0", "long0", "long1", "long2"]
    assert sorted(closed) == ["long", "short"]


def test_merge_of_nothing_is_empty() -> None:
    async def main() -> list[object]:
        nothing: tuple[AsyncIterable[object], ...] = ()
        return [item async for item in merge(*nothing)]

    assert run(main()) == []


def test_merge_takes_plain_async_iterables() -> None:
    async def main() -> list[int]:
        return [item async for item in merge(Countdown(3), Countdowns(2))]

    assert Counter(run(main())) == Counter([2, 1, 0, 1, 0])


def test_merge_of_plain_async_iterators_can_stop_early() -> None:
    async def main() -> int:
        async with aclosing(merge(Countdown(100), Countdowns(100))) as merged:
            return await anext(merged)

    assert run(main()) == 99


def test_merge_closes_all_sources_when_consumer_breaks() -> None:
    async def main() -> tuple[str, list[str]]:
        closed: list[str] = []
        sources = endless("fast", closed), never_opening("stuck", closed), endless("other", closed)
        async with aclosing(merge(*sources)) as merged:
            async for item in merged:
                first = item
                break
        return first, sorted(closed)  # read at once: nothing else has run since aclose returned

    first, closed = run(main())
    assert first in {"fast0", "other0"}
    assert closed == ["fast", "other", "stuck"]


def test_merge_closes_all_sources_when_consumer_acloses_it() -> None:
    async def main() -> list[str]:
        closed: list[str] = []
        merged = merge(endless("fast", closed), never_opening("stuck", closed))
        await anext(merged)
        await merged.aclose()
        return sorted(closed)

    assert run(main()) == ["fast", "stuck"]


def test_merge_closes_all_sources_when_consumer_task_is_cancelled() -> None:
    async def main() -> tuple[list[str], list[str]]:
        closed: list[str] = []
        gates = [asyncio.Event(), asyncio.Event()]
        received: list[str] = []
        first = asyncio.Event()

        async def consume() -> None:
            async for item in merge(gated("a", gates, closed), never_opening("stuck", closed)):
                received.append(item)
                first.set()

        task = asyncio.create_task(consume())
        gates[0].set()
        await first.wait()
        # The consumer now waits inside the merge for an item that never comes.
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return received, sorted(closed)

    received, closed = run(main())
    assert received == ["a0"]
    assert closed == ["a", "stuck"]


def test_merge_closes_the_other_sources_and_raises_when_a_source_fails() -> None:
    async def main() -> tuple[list[str], list[str], list[str]]:
        closed: list[str] = []
        got: list[str] = []
        closed_when_raised: list[str] = []

        async def failing() -> AsyncIterator[str]:
            try:
                yield "failing0"
                raise ValueError("boom")
            finally:
                closed.append("failing")

        async def consume() -> None:
            try:
                async for item in merge(failing(), never_opening("stuck", closed), endless("fast", closed)):
                    got.append(item)
            finally:
                closed_when_raised.extend(sorted(closed))

        with pytest.raises(ValueError, match="boom"):
            await consume()
        return got, closed_when_raised, sorted(closed)

    got, closed_when_raised, closed = run(main())
    assert "failing0" in got
    assert closed_when_raised == ["failing", "fast", "stuck"]
    assert closed == ["failing", "fast", "stuck"]


def test_merge_closes_every_source_even_when_one_fails_to_close() -> None:
    async def main() -> list[str]:
        closed: list[str] = []

        async def bad_cleanup() -> AsyncIterator[str]:
            try:
                while True:
                    await asyncio.sleep(0)
                    yield "bad"
            finally:
                raise RuntimeError("cleanup failed")

        merged = merge(bad_cleanup(), never_opening("stuck", closed), endless("fast", closed))
        await anext(merged)
        with pytest.raises(RuntimeError, match="cleanup failed"):
            await merged.aclose()
        return sorted(closed)

    assert run(main()) == ["fast", "stuck"]


def test_merge_lets_no_source_run_more_than_one_item_ahead() -> None:
    produced: Counter[str] = Counter()
    consumed: Counter[str] = Counter()

    async def eager(name: str) -> AsyncIterator[str]:
        while True:
            produced[name] += 1
            yield name

    async def main() -> list[int]:
        leads: list[int] = []
        async with aclosing(merge(eager("a"), eager("b"), eager("c"))) as merged:
            for _ in range(60):
                consumed[await anext(merged)] += 1
                for _ in range(5):  # a slow consumer: every source has had every chance to run
                    await asyncio.sleep(0)
                leads.extend(produced[name] - consumed[name] for name in "abc")
        return leads

    leads = run(main())
    assert max(leads) == 1
    assert sum(consumed.values()) == 60
    assert set(consumed) == {"a", "b", "c"}
