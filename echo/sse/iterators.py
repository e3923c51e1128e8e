from __future__ import annotations

from typing import Any

__all__ = ["aclose"]


async def aclose(iterator: Any) -> None:
    """Close an async iterator if it can be closed (async generators can; plain iterators not)."""
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()
