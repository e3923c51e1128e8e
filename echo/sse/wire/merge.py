"""`merge`: interleave several async streams as their items become ready.

Each source has at most one `__anext__` in flight, run as its own task; a finished step is
queued by a done-callback so items come out in the order they became ready. The consumer holds
the only reference to those tasks, and its `finally` cancels and awaits every one of them before
closing the sources, so no source outlives the merge and no exception goes unretrieved.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import TypeVar

from .iterators import aclose

__all__ = ["merge"]

T = TypeVar("T")


async def merge(*streams: AsyncIterable[T]) -> AsyncGenerator[T, None]:
    iterators = [aiter(stream) for stream in streams]
    ready: asyncio.Queue[asyncio.Task[T]] = asyncio.Queue()
    steps: dict[asyncio.Task[T], AsyncIterator[T]] = {}

    def step(iterator: AsyncIterator[T]) -> None:
        task = asyncio.create_task(_next(iterator))
        steps[task] = iterator
        task.add_done_callback(ready.put_nowait)

    try:
        for iterator in iterators:
            step(iterator)
        while steps:
            task = await ready.get()
            iterator = steps.pop(task)
            try:
                item = task.result()
            except StopAsyncIteration:
                continue
            # Ask for the next item only now, so no source runs more than one item ahead.
            step(iterator)
            yield item
    finally:
        for task in steps:
            task.cancel()
        if steps:
            await asyncio.wait(steps)
            for task in steps:
                if not task.cancelled():
                    task.exception()  # retrieved: the error that stopped us, or an ignored one
        await _close_all(iterators)


async def _next(iterator: AsyncIterator[T]) -> T:
    return await anext(iterator)


async def _close_all(iterators: list[AsyncIterator[T]]) -> None:
    # Every source gets its chance to clean up even when an earlier one fails to close.
    error: BaseException | None = None
    for iterator in iterators:
        try:
            await aclose(iterator)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others
            error = error or exc
    if error is not None:
        raise error
