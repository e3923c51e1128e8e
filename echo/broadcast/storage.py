"""django-eventstream's storage: which one (`get_storage`), and reads of it off the event loop.

Events are stored for ids and replay unless the site chose otherwise: without
`EVENTSTREAM_STORAGE_CLASS`, broadcast uses django-eventstream's `DjangoModelStorage`, bounded by
echo's retention settings (`echo.broadcast.retention.RetainingModelStorage`; its app,
`django_eventstream`, must be installed: `echo.E004`). Setting it to None or "" stores nothing:
no ids, no replay (`echo.W005`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from .eventstream import EventDoesNotExist, EventStorage, load_class
from .published import Published

__all__ = [
    "DEFAULT_STORAGE",
    "EventDoesNotExist",
    "current_id",
    "get_storage",
    "read_stored",
    "stored_batches",
]

# django-eventstream's model storage, with echo's retention (echo.broadcast.retention).
DEFAULT_STORAGE = "echo.broadcast.retention.RetainingModelStorage"

P = ParamSpec("P")
R = TypeVar("R")

_READ_BATCH = 500


def get_storage() -> EventStorage | None:
    """The storage events are kept in, or None when the site turned storage off."""
    chosen = getattr(settings, "EVENTSTREAM_STORAGE_CLASS", DEFAULT_STORAGE)
    return load_class(chosen) if chosen else None


def _current_id(channel: str) -> int | None:
    storage = get_storage()
    return None if storage is None else int(storage.get_current_id(channel))


def _read(channel: str, after: int, upto: int) -> list[Published]:
    """Stored events of `channel` with `after < id <= upto`, oldest first.

    Raises django-eventstream's `EventDoesNotExist` when `after` is no longer in storage.
    """
    storage = get_storage()
    assert storage is not None  # read only where events are stored
    out: list[Published] = []
    position = after
    while position < upto:
        events = storage.get_events(channel, position, limit=min(_READ_BATCH, upto - position))
        if not events:
            break
        for stored in events:
            if stored.id > upto:
                break
            out.append(Published(channel, int(stored.id), str(stored.type), _as_text(stored.data)))
        position = int(events[-1].id)
    return out


def _as_text(data: Any) -> str:
    # Our events are stored as their JSON text; one sent with django-eventstream's own
    # `send_event` is stored as a structure and is written out as JSON.
    return data if isinstance(data, str) else json.dumps(data)


def _as_request(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`func` in a worker thread, its connection then treated as a request's is at its end:
    closed unless `CONN_MAX_AGE` keeps it (a pool thread would otherwise hold one for good)."""

    @functools.wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(call, thread_sensitive=False)


read_stored = _as_request(_read)
current_id = _as_request(_current_id)


async def stored_batches(
    channel: str, after: int, upto: int, size: int
) -> AsyncGenerator[list[Published], None]:
    """`read_stored(channel, after, upto)` at most `size` ids at a time, each batch read once the
    one before has been taken: a reader far behind never holds all it missed in memory."""
    position = after
    while position < upto:
        batch_end = min(upto, position + size)
        yield await read_stored(channel, position, batch_end)
        position = batch_end
