"""Reads of django-eventstream's storage, off the event loop: a channel's current id, its events."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from asgiref.sync import sync_to_async

from .published import Published

__all__ = ["EventDoesNotExist", "current_id", "read_stored", "stored_batches"]

from django_eventstream.storage import EventDoesNotExist

_READ_BATCH = 500


def _storage() -> Any:
    from django_eventstream.utils import get_storage

    return get_storage()


def _current_id(channel: str) -> int | None:
    storage = _storage()
    return None if storage is None else int(storage.get_current_id(channel))


def _read(channel: str, after: int, upto: int) -> list[Published]:
    """Stored events of `channel` with `after < id <= upto`, oldest first.

    Raises django-eventstream's `EventDoesNotExist` when `after` is no longer in storage.
    """
    storage = _storage()
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


read_stored = sync_to_async(_read, thread_sensitive=False)
current_id = sync_to_async(_current_id, thread_sensitive=False)


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
