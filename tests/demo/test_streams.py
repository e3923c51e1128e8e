"""`echo.streams` pieces that need no server."""

from __future__ import annotations

import asyncio

from echo.demo.streams import Start

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
