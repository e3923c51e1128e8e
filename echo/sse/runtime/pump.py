"""`Pump`: a source run in a task of its own, at most one item ahead of its consumer.

Under Django's stock ASGI handler a stream's keep-alive must wait for the next item with a
deadline without cancelling the source mid-step; the pump's one-slot queue is what the response
waits on (`asyncio.timeout` wraps only the queue's `get`).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterable
from typing import Any, Final

from ..wire.iterators import aclose

__all__ = ["END", "IDLE", "WAKE", "Pump"]


class Marker(enum.Enum):
    END = enum.auto()
    IDLE = enum.auto()
    WAKE = enum.auto()


END: Final = Marker.END
IDLE: Final = Marker.IDLE
WAKE: Final = Marker.WAKE


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Pump:
    """The pumped `echo.sse.runtime.run.StreamMode`: `next()` returns `IDLE` after `idle_after` seconds
    without an item (None: never)."""

    def __init__(self, source: AsyncIterable[Any], idle_after: float | None = None) -> None:
        self._idle_after = idle_after
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
        self._task = asyncio.create_task(self._run(source))

    async def _run(self, source: AsyncIterable[Any]) -> None:
        iterator = aiter(source)
        try:
            async for item in iterator:
                await self._queue.put(item)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            await self._queue.put(_Failure(exc))
        else:
            await self._queue.put(END)
        finally:
            await aclose(iterator)

    def wake(self) -> None:
        """Make a waiting `next()` return `WAKE` now (a full queue wakes it anyway)."""
        if self._queue.empty():
            self._queue.put_nowait(WAKE)

    async def next(self) -> Any:
        """The next item; `END` when the source ran out; `IDLE` after `idle_after` seconds."""
        idle_after = self._idle_after
        if not self._queue.empty():
            item = self._queue.get_nowait()
        elif idle_after:
            try:
                async with asyncio.timeout(idle_after):
                    item = await self._queue.get()
            except TimeoutError:
                return IDLE
        else:
            item = await self._queue.get()
        if isinstance(item, _Failure):
            raise item.error
        return item

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.exception()
