from __future__ import annotations

from collections.abc import Awaitable
from types import AsyncGeneratorType
from typing import Any, Protocol, runtime_checkable

__all__ = ["AsyncClosable", "aclose"]


@runtime_checkable
class AsyncClosable(Protocol):
    """An async iterator that can be closed early (an async generator, a `merge`)."""

    def aclose(self) -> Awaitable[Any]: ...


async def aclose(iterator: Any) -> None:
    """Close an async iterator if it can be closed (async generators can; plain iterators not)."""
    # The common case first: a Protocol's isinstance costs microseconds, a type check nothing.
    if isinstance(iterator, (AsyncGeneratorType, AsyncClosable)):
        await iterator.aclose()
