"""`Pinger`: one task per process that sends keep-alive comments for streams idle too long, and
ends those whose client has stopped reading for `SLOW_CLIENT_TIMEOUT` seconds.

A stream served by `echo.sse.glue.asgi.ASGIHandler` waits on its source in the request's own task, so
a ping cannot come from that task; instead of a timer or a task per stream, this sweeper looks at
every such stream a few times per ping interval and asks the idle ones to ping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from ..conf import app_settings

__all__ = ["Pingable", "Pinger", "pinger"]

_SWEEP_MAX = 1.0


class Pingable(Protocol):
    @property
    def ping(self) -> float | None: ...

    def ping_due(self, now: float) -> bool: ...

    def start_ping(self) -> None: ...

    def stalled(self, now: float, timeout: float) -> bool: ...

    def end_slow(self) -> None: ...


class Pinger:
    def __init__(self) -> None:
        self._streams: set[Pingable] = set()
        self._task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        self._streams.clear()
        self._task = None

    def __len__(self) -> int:
        return len(self._streams)

    def add(self, stream: Pingable) -> None:
        self._streams.add(stream)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._sweep())

    def discard(self, stream: Pingable) -> None:
        self._streams.discard(stream)

    async def _sweep(self) -> None:
        while self._streams:
            pings = [stream.ping for stream in self._streams if stream.ping]
            await asyncio.sleep(
                min([_SWEEP_MAX, app_settings.SLOW_CLIENT_TIMEOUT / 4, *(p / 4 for p in pings)])
            )
            now = time.monotonic()
            slow_after = app_settings.SLOW_CLIENT_TIMEOUT
            for stream in list(self._streams):
                if stream.stalled(now, slow_after):
                    stream.end_slow()
                elif stream.ping_due(now):
                    stream.start_ping()


pinger = Pinger()
