"""`event_source`: numbering, JSON data, and closing the wrapped generator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from echo.sse import BaseEvent, ServerSentEvent, event_source

from ..loops import run


class Tick(BaseEvent[int]):
    pass


@event_source
async def ticks(count: int, start: int = 0) -> AsyncIterator[BaseEvent[int]]:
    for value in range(start, start + count):
        yield Tick.create(value)


async def collect(stream: AsyncIterator[ServerSentEvent]) -> list[ServerSentEvent]:
    return [event async for event in stream]


def test_event_source_numbers_events_from_zero() -> None:
    events = run(collect(ticks(3, start=10)))
    assert events == [
        ServerSentEvent(data="10", event="tick", id=0),
        ServerSentEvent(data="11", event="tick", id=1),
        ServerSentEvent(data="12", event="tick", id=2),
    ]


def test_event_source_numbers_each_call_from_zero() -> None:
    async def twice() -> tuple[list[ServerSentEvent], list[ServerSentEvent]]:
        return await collect(ticks(2)), await collect(ticks(1))

    first, second = run(twice())
    assert [event.id for event in first] == [0, 1]
    assert [event.id for event in second] == [0]


def test_event_source_of_an_empty_generator_is_empty() -> None:
    assert run(collect(ticks(0))) == []


def test_event_source_keeps_the_wrapped_function_name_and_arguments() -> None:
    assert ticks.__name__ == "ticks"
    assert run(collect(ticks(count=1, start=5)))[0].data == "5"


def test_event_source_runs_nothing_until_iterated() -> None:
    started: list[bool] = []

    @event_source
    async def stream() -> AsyncIterator[BaseEvent[int]]:
        started.append(True)
        yield Tick.create(0)

    async def main() -> None:
        iterator = stream()
        assert started == []
        await iterator.aclose()  # type: ignore[attr-defined]

    run(main())
    assert started == []


def test_event_source_closes_the_wrapped_generator_when_closed_early() -> None:
    log: list[str] = []

    @event_source
    async def endless() -> AsyncIterator[BaseEvent[int]]:
        value = 0
        try:
            while True:
                yield Tick.create(value)
                value += 1
        finally:
            await asyncio.sleep(0)  # cleanup may itself await
            log.append("finally")

    async def main() -> list[ServerSentEvent]:
        stream = endless()
        received = [await anext(stream), await anext(stream)]
        assert log == []
        await stream.aclose()  # type: ignore[attr-defined]
        assert log == ["finally"]
        return received

    received = run(main())
    assert [event.id for event in received] == [0, 1]
    assert log == ["finally"]


def test_event_source_closes_the_wrapped_generator_when_the_consumer_breaks_out() -> None:
    log: list[str] = []

    @event_source
    async def endless() -> AsyncIterator[BaseEvent[int]]:
        try:
            while True:
                yield Tick.create(1)
        finally:
            log.append("finally")

    async def main() -> None:
        async with aclosing(endless()) as stream:  # type: ignore[type-var]
            async for event in stream:
                if event.id == 2:
                    break
        assert log == ["finally"]

    run(main())


def test_event_source_closes_the_wrapped_generator_when_cancelled() -> None:
    log: list[str] = []

    @event_source
    async def stuck(ready: asyncio.Event) -> AsyncIterator[BaseEvent[int]]:
        try:
            yield Tick.create(0)
            ready.set()
            await asyncio.Future()  # never resolves
            yield Tick.create(1)  # pragma: no cover
        finally:
            log.append("finally")

    async def main() -> None:
        ready = asyncio.Event()
        stream = stuck(ready)

        async def consume() -> None:
            async with aclosing(stream):  # type: ignore[type-var]
                async for _ in stream:
                    pass

        task = asyncio.create_task(consume())
        await ready.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log == ["finally"]

    run(main())


def test_event_source_propagates_an_error_after_running_finally() -> None:
    log: list[str] = []

    @event_source
    async def failing() -> AsyncIterator[BaseEvent[int]]:
        try:
            yield Tick.create(0)
            raise RuntimeError("boom")
        finally:
            log.append("finally")

    received: list[ServerSentEvent] = []

    async def main() -> None:
        async for event in failing():
            received.append(event)

    with pytest.raises(RuntimeError, match="boom"):
        run(main())
    assert [event.id for event in received] == [0]
    assert log == ["finally"]
