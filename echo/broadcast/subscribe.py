"""The stream a broadcast subscriber reads: resume from its last ids, then live events.

Ids use django-eventstream's format, `channel:id` joined with commas for several channels, so
its clients and its `Last-Event-ID` parsing work unchanged. The first event, `stream-open`,
already carries an id: a client that reconnects at once resumes from where it joined. A
subscriber that falls behind events nothing stored ends its stream as `fell_behind`, its last
event `stream-error`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from urllib.parse import quote

from echo.sse import EventStreamResponse, LastEventIdError, ServerSentEvent, current_response
from echo.sse.glue.http import WHOLE_ID, WHOLE_ID_TEXT
from echo.sse.wire.control import ResetPayload, StreamErrorPayload, StreamFailed, StreamOpen, StreamReset
from echo.sse.wire.endings import EndReason, StreamEnd

from . import metrics
from .access import valid_channel
from .hub import Overflow, hub
from .published import Published
from .storage import EventDoesNotExist, stored_batches

__all__ = ["channel_events", "parse_last_event_id"]


_CATCH_UP_BATCH = 200


# Longer than any id this server writes for the channels a subscription may name.
_MAX_ID_LENGTH = 8192


def parse_last_event_id(raw: str, channels: Sequence[str]) -> dict[str, int]:
    """`news:5,alerts:2` (or a bare `5` when there is one channel) -> positions by channel."""
    raw = raw.strip()
    if not raw:
        return {}
    expected = f"channel:id[,channel:id], each id {WHOLE_ID_TEXT}"
    if len(raw) > _MAX_ID_LENGTH:
        raise LastEventIdError(raw, f"at most {_MAX_ID_LENGTH} characters of {expected}")
    if WHOLE_ID.fullmatch(raw) and len(channels) == 1:
        return {channels[0]: int(raw)}
    positions: dict[str, int] = {}
    for part in raw.split(","):
        name, sep, number = part.rpartition(":")
        if not sep or not WHOLE_ID.fullmatch(number) or not valid_channel(name):
            raise LastEventIdError(raw, expected)
        positions[name] = int(number)
    return {name: number for name, number in positions.items() if name in channels}


def _make_id(cursor: dict[str, int | None]) -> str | None:
    parts = [f"{quote(name)}:{number}" for name, number in cursor.items() if number is not None]
    return ",".join(parts) or None


def _event(item: Published, cursor: dict[str, int | None]) -> ServerSentEvent:
    if len(cursor) == 1:
        return item.single_channel_event()
    return ServerSentEvent(data=item.data, event=item.event, id=_make_id(cursor))


async def channel_events(
    channels: Sequence[str], last_ids: dict[str, int]
) -> AsyncIterator[ServerSentEvent | StreamEnd]:
    sub = await hub.subscribe(channels)
    try:
        cursor: dict[str, int | None] = {name: last_ids.get(name, sub.positions[name]) for name in channels}
        # An id the channel never reached (its storage was reset, say) would hide every event up
        # to it: start such a channel from where it is now, and say so.
        ahead = [
            name
            for name in channels
            if cursor[name] is not None and (sub.positions[name] or 0) < cursor[name]  # type: ignore[operator]
        ]
        for name in ahead:
            cursor[name] = sub.positions[name]
        yield StreamOpen(data="").to_sse(id=_make_id(cursor))
        if ahead:
            yield StreamReset(data=ResetPayload(channels=ahead)).to_sse(id=_make_id(cursor))
        for name in channels:
            async for event in _catch_up(name, cursor, sub.positions[name]):
                yield event
        stream = current_response()
        if stream is not None:
            sub.send_directly(functools.partial(_send_direct, stream, cursor))
        while True:
            try:
                item = await sub.get()
            except Overflow as overflow:
                if any(position is None for position in overflow.positions.values()):
                    yield _fell_behind()
                    return
                async for event in _catch_up_all(channels, cursor, overflow.positions):
                    yield event
                continue
            live = _advance(cursor, item)
            if live is not None:
                yield live
    finally:
        hub.unsubscribe(sub)


async def _catch_up_all(
    channels: Sequence[str], cursor: dict[str, int | None], upto: Mapping[str, int | None]
) -> AsyncIterator[ServerSentEvent]:
    """After an overflow: every channel's stored events up to where the hub said it is."""
    for name in channels:
        async for event in _catch_up(name, cursor, upto[name]):
            yield event


def _fell_behind() -> StreamEnd:
    # Events nothing stored are lost to it: end, recorded as such, not `completed`.
    failed = StreamFailed(
        data=StreamErrorPayload(condition="overflow", text="fell too far behind; reconnect")
    )
    return StreamEnd(EndReason.FELL_BEHIND, failed.to_sse())


def _advance(cursor: dict[str, int | None], item: Published) -> ServerSentEvent | None:
    """Move `cursor` past `item` and return its event; None if it was sent while catching up."""
    seen = cursor.get(item.channel)
    if item.id is not None:
        if seen is not None and item.id <= seen:
            return None
        cursor[item.channel] = item.id
    return _event(item, cursor)


def _send_direct(stream: EventStreamResponse, cursor: dict[str, int | None], item: Published) -> bool:
    """What the loop in `channel_events` does with `item`, done by the hub while the loop waits."""
    seen = cursor.get(item.channel)
    event = _advance(cursor, item)
    if event is None or stream.write_now(event):
        return True
    cursor[item.channel] = seen  # not sent: the loop will see it again
    return False


async def _catch_up(
    name: str, cursor: dict[str, int | None], upto: int | None
) -> AsyncIterator[ServerSentEvent]:
    after = cursor[name]
    if after is None or upto is None or after >= upto:
        return
    metrics.catch_ups.inc(metrics.label(name))
    # A batch at a time, each sent before the next is read: a subscriber far behind (or one that
    # stopped reading) holds one batch in memory, not everything it missed.
    try:
        async with contextlib.aclosing(stored_batches(name, after, upto, _CATCH_UP_BATCH)) as batches:
            async for missed in batches:
                for item in missed:
                    cursor[name] = item.id
                    yield _event(item, cursor)
                del missed
    except EventDoesNotExist:
        cursor[name] = upto
        yield StreamReset(data=ResetPayload(channels=[name])).to_sse(id=_make_id(cursor))
        return
    cursor[name] = upto
