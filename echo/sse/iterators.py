from __future__ import annotations

from typing import Any

from .types import AsyncClosable

__all__ = ["aclose"]


async def aclose(iterator: Any) -> None:
    """Close an async iterator if it can be closed (async generators can; plain iterators not)."""
    if isinstance(iterator, AsyncClosable):
        await iterator.aclose()
