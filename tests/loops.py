"""Running a coroutine in a test, with the loop's own error reports turned into failures."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, failing the test if the loop saw an error nobody handled (a task exception
    never retrieved, an async generator finalised by the loop with an error, ...)."""
    unhandled: list[dict[str, Any]] = []

    async def checked() -> T:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: unhandled.append(context))
        return await main

    result = asyncio.run(checked())
    gc.collect()  # a task that dies unretrieved reports it when collected
    assert unhandled == []
    return result
