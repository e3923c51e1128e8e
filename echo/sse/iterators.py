from __future__ import annotations

from types import AsyncGeneratorType
from typing import Any

from .types import AsyncClosable

__all__ = ["aclose"]


async def aclose(iterator: Any) -> None:
    """Close an async iterator if it can be closed (async generators can; plain iterators not)."""
    # The common case first: a Protocol's isinstance costs microseconds, a type check nothing.
    if isinstance(iterator, (AsyncGeneratorType, AsyncClosable)):
        await iterator.aclose()
