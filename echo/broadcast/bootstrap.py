"""A page's first connection that misses nothing: the channel's position, rendered with the page.

A page that shows a channel's state and then opens an `EventSource` would lose every event
published between its render and the connection. `channel_stream_url(request, "prices")` gives
`/events/prices/?lastEventId=42`: the subscription view reads `lastEventId` from the query as
the first connection's position (`echo.sse.glue.http.last_event_id`, as django-eventstream does)
and replays what came after it; a reconnect sends its own `Last-Event-ID` header, which wins.

Read the position before the data the page shows: an event published between the two is then
in the page and replayed once more (never lost), where the other order would lose it.

Who may not read a channel gets the URL without a position: the page still renders, the
subscription answers 403, and nothing about the channel (how many events it has had) is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from .access import channel_manager, valid_channel
from .channels import require_declared
from .conf import app_settings
from .storage import get_storage

__all__ = ["achannel_stream_url", "channel_positions", "channel_stream_url", "stream_url"]


def channel_positions(channels: Sequence[str]) -> dict[str, int | None]:
    """Each channel's current id in storage (0 before its first event); None when nothing is
    stored (`EVENTSTREAM_STORAGE_CLASS = None`). Asks no one's permission: check it first."""
    names = _checked(channels)
    storage = get_storage()
    return {name: None if storage is None else int(storage.get_current_id(name)) for name in names}


def stream_url(channels: Sequence[str], positions: dict[str, int | None] | None = None) -> str:
    """The subscription's path, resuming after `positions` where they are known."""
    names = _checked(channels)
    path = reverse("echo_broadcast:events", kwargs={"channels": ",".join(names)})
    known = {name: number for name, number in (positions or {}).items() if number is not None}
    if not known or set(known) != set(names):
        return path
    # One channel: its id as the stream writes it bare; several: `channel:id` pairs, as in its ids.
    value = str(known[names[0]]) if len(names) == 1 else ",".join(f"{n}:{known[n]}" for n in names)
    return f"{path}?{urlencode({'lastEventId': value})}"


def channel_stream_url(request: HttpRequest, *channels: str) -> str:
    """The URL a page streams `channels` from, starting at their position now, for a view or a
    DRF view (`request.user` must be readable: AuthenticationMiddleware). Without read access
    to every channel, the URL without a position."""
    names = _checked(channels)
    user = request.user if request.user.is_authenticated else None
    manager = channel_manager()
    if not all(manager.can_read_channel(user, name) for name in names):
        return stream_url(names)
    return stream_url(names, channel_positions(names))


async def achannel_stream_url(request: HttpRequest, *channels: str) -> str:
    """`channel_stream_url` for an async view: the user and the storage are read in a thread."""
    return await sync_to_async(channel_stream_url)(request, *channels)


def _checked(channels: Sequence[str]) -> list[str]:
    """The channel names, once each: `ValueError` for a bad name or too many, and the channels'
    `UndeclaredChannel` for one no declaration covers (the subscription would answer 404)."""
    names = list(dict.fromkeys(channels))
    if not names or len(names) > app_settings.MAX_CHANNELS:
        raise ValueError(f"a subscription names 1 to {app_settings.MAX_CHANNELS} channels, not {len(names)}")
    for name in names:
        if not valid_channel(name):
            raise ValueError(f"invalid channel name: {name!r}")
        require_declared(name)
    return names
