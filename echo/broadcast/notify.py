"""PostgreSQL `LISTEN`/`NOTIFY` between processes, for a site whose events are stored in PostgreSQL
and which has no Redis.

`publish()` sends `NOTIFY echo_broadcast` in the very statement that stores the event (with
echo's model storage; with a site's own storage class, a statement after it on the same
connection): it leaves with the commit of the event's row (the caller's transaction, if any) and
vanishes with its rollback, so a notification never announces a row the other processes cannot
read yet. An event stored by a site's own storage whose publisher dies before its NOTIFY is left
unannounced: the next event on the channel (a gap the hub fills from storage) or the resting
poll delivers it. The payload is the event itself (`Published.to_json()`) when
it fits PostgreSQL's 8000-byte limit, else only its channel and id, and the listener reads the
event from storage.

Each server process holds one more connection, the listener's (psycopg 3, async, autocommit). While
it listens, the storage poll rests (it looks every `_SAFETY_INTERVAL` seconds instead, for events
stored without echo's `publish`, such as django-eventstream's own `send_event`). A listener that
loses the database says so once, retries like the Redis relay, and on reconnecting catches up from
storage what it did not hear.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from django.db import DatabaseError, connections

from echo.sse.glue.django_internals import connection_params

from .conf import app_settings
from .eventstream import DjangoModelStorage, storage_alias
from .poll import Polled, catch_up
from .published import Published

__all__ = [
    "CHANNEL",
    "MAX_PAYLOAD",
    "Notified",
    "enabled",
    "listen",
    "payload_around_id",
    "problem",
    "send",
    "send_many",
    "storage_alias",
]

logger = logging.getLogger("echo.broadcast.notify")

CHANNEL = "echo_broadcast"
# PostgreSQL refuses a payload of 8000 bytes or more.
MAX_PAYLOAD = 7999
_ID_DIGITS = 20  # the most an id (a bigint) adds to a payload split around it
_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)


def problem() -> str | None:
    """Why `LISTEN`/`NOTIFY` cannot carry events here, or None when it can."""
    from .storage import get_storage

    storage = get_storage()
    if not isinstance(storage, DjangoModelStorage):
        return "events are not stored with django-eventstream's model storage"
    vendor = connections[storage_alias()].vendor
    if vendor != "postgresql":
        return f"events are stored in a {vendor} database, not PostgreSQL"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg 3 is not installed: pip install 'psycopg[binary]>=3.2' (echo's [postgres] extra)"
    return None


def enabled() -> bool:
    """`BROADCAST_NOTIFY`, or when unset: on where it can work and Redis does not carry events."""
    chosen = app_settings.BROADCAST_NOTIFY
    if chosen is False or (chosen is None and app_settings.REDIS_URL):
        return False
    return problem() is None


def send(item: Published, using: str) -> None:
    """Notify the other processes of `item`, in the current transaction on `using`."""
    send_many([item], using)


def send_many(items: Sequence[Published], using: str) -> None:
    """Notify the other processes of `items`, in order, in one statement on `using`."""
    payloads = [_payload(item) for item in items]
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) WITH ORDINALITY AS n(p, i) ORDER BY i",
            [CHANNEL, payloads],
        )


def payload_around_id(item: Published) -> tuple[str, str]:
    """`item`'s notification as the text before and after its id, for the statement that stores
    the event and learns its id (`echo.broadcast.eventstream.ModelStorage.append_events`)."""
    head, tail = item.to_json_around_id()
    if len(head.encode()) + len(tail.encode()) + _ID_DIGITS > MAX_PAYLOAD:
        head, tail = f'{{"channel": {json.dumps(item.channel)}, "id": ', "}"
    return head, tail


def _payload(item: Published) -> str:
    payload = item.to_json()
    if len(payload.encode()) > MAX_PAYLOAD:
        payload = json.dumps({"channel": item.channel, "id": item.id})
    return payload


def _connect_params(alias: str) -> dict[str, Any]:
    params = connection_params(alias)
    # Django's own adapters and cursor class are for its sync connection; the listener reads text.
    for key in ("context", "cursor_factory", "prepare_threshold"):
        params.pop(key, None)
    return params


class Notified(Polled, Protocol):
    """What the listener needs of the hub: the poll's view, and saying whether it hears notifications."""

    def set_notified(self, notified: bool) -> None: ...


async def listen(hub: Notified) -> None:
    """Hand every event other processes notify to the hub, until cancelled."""
    import psycopg

    alias = storage_alias()
    attempt = 0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(autocommit=True, **_connect_params(alias)) as db:
                await db.execute(f"LISTEN {CHANNEL}")
                hub.set_notified(True)
                if attempt:
                    logger.info("Listening to PostgreSQL notifications again")
                attempt = 0
                # What was stored before LISTEN took effect (at start-up, or while the connection
                # was lost) is read once; from here on every commit is notified.
                for name, last in hub.settled_positions():
                    await catch_up(hub, name, last)
                async for note in db.notifies():
                    await _deliver(hub, note.payload)
        except (psycopg.Error, DatabaseError, OSError) as exc:
            if attempt == 0:
                logger.warning(
                    "Lost PostgreSQL notifications (%s: %s); retrying, the storage poll meanwhile",
                    type(exc).__name__,
                    str(exc).strip(),
                )
        finally:
            hub.set_notified(False)
        await asyncio.sleep(_RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)])
        attempt += 1


async def _deliver(hub: Polled, payload: str) -> None:
    try:
        body = json.loads(payload)
        if "data" in body:
            hub.deliver(Published.from_json(payload))
            return
        name = str(body["channel"])
    except (ValueError, KeyError, TypeError):
        logger.warning("Ignoring a malformed notification")
        return
    # Too large to carry: read it (and anything before it not yet delivered) from storage.
    for channel, last in hub.settled_positions():
        if channel == name:
            await catch_up(hub, name, last)
