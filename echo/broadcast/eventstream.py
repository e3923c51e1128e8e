"""django-eventstream, as broadcast uses it: the one module that reads it.

django-eventstream documents its settings, `send_event` and the `DefaultChannelManager` a site
subclasses; broadcast relies on more than that. Every such detail is read here, listed in
docs/upstream.md with the version it was read from (django-eventstream 5.3.4, pinned in
requirements.txt) and pinned by `tests/test_upstream_adapters.py`:

1. `utils.get_class(path)`: the storage and channel-manager classes named in settings, made once
   per thread and kept, as django-eventstream's own views make them.
2. The storage interface (`StorageBase`): `append_event(channel, type, data)` returning an event
   with `id`; `get_events(channel, last_id, limit=)` raising `storage.EventDoesNotExist`;
   `get_current_id(channel)`; stored events' `id`, `type`, `data`.
3. `DjangoModelStorage.append_event` calls `self.trim_event_log()` after every append: the hook
   `ModelStorage.expire` is called from.
4. `models.Event` (its fields `channel`, `eid` (the channel's id), `created`) and
   `models.EventCounter`: the tables retention trims and the start-up report names.
5. `views.get_listener_manager().add_to_queues(channel, event.Event(...))`: how django-eventstream's
   own streams in this process hear of an event that `send_event` did not publish.
6. `utils.publish_event(channel, type, data, id, prev_id)`: the GRIP publish to Pushpin, in the
   format django-eventstream's GRIP answers subscribe to.
7. `eventrequest.EventRequest(request, view_kwargs={"channels": ...})` and
   `eventstream.get_events(...).to_grip_response(request)`: the answer that hands a subscription
   to Pushpin.
8. What `models.Event.save()` writes, which `ModelStorage.append_events` writes itself in one or
   two statements instead of about seven: `EventCounter.value` is the channel's last id (0 or no
   row: none yet); a channel's first append also stores a placeholder event with id 0 (empty
   `type` and `data`), the position `get_events(channel, 0)` reads from; `Event.data` holds
   `json.dumps(data, cls=DjangoJSONEncoder)`; `created` and `updated` are the write's time. Two
   writers are kept apart by the counter row's lock (`select_for_update` upstream, the upsert's
   own row lock here), so ids are never shared with django-eventstream's own `send_event` either.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router, transaction
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django_eventstream.channelmanager import DefaultChannelManager
from django_eventstream.event import Event as UpstreamEvent
from django_eventstream.storage import DjangoModelStorage, EventDoesNotExist

from echo.sse.glue.django_internals import datetime_adapter, name_quoter

__all__ = [
    "DefaultChannelManager",
    "DjangoModelStorage",
    "EventDoesNotExist",
    "EventStorage",
    "ModelStorage",
    "Notices",
    "StoredEvent",
    "counter_model",
    "event_model",
    "grip_response",
    "load_class",
    "notify_listeners",
    "publish_to_grip",
    "storage_alias",
    "stored_events",
]


# A NOTIFY per stored event: PostgreSQL's channel, and each payload's text before and after the id.
Notices = tuple[str, Sequence[tuple[str, str]]]


class StoredEvent(Protocol):
    """An event as a django-eventstream storage returns it."""

    id: int
    type: str
    data: Any


class EventStorage(Protocol):
    """django-eventstream's storage interface (`StorageBase`), what a site's own class implements."""

    def append_event(self, channel: str, event_type: str, data: Any) -> StoredEvent: ...

    def get_events(self, channel: str, last_id: int, limit: int = ...) -> Sequence[StoredEvent]: ...

    def get_current_id(self, channel: str) -> int: ...


def load_class(path: str) -> Any:
    """An instance of the class at dotted `path`, made once per thread, as django-eventstream does."""
    from django_eventstream.utils import get_class

    return get_class(path)


class ModelStorage(DjangoModelStorage):  # type: ignore[misc]  # django-eventstream has no types
    """`DjangoModelStorage` that appends in one or two statements (`append_events`), and whose
    per-append expiry is `expire()`: django-eventstream calls its `trim_event_log()` after every
    append."""

    def append_event(self, channel: str, event_type: str, data: Any) -> Any:
        (event_id,) = self.append_events(channel, [(event_type, data)])
        return UpstreamEvent(channel, event_type, data, id=event_id)

    def append_events(
        self,
        channel: str,
        events: Sequence[tuple[str, Any]],
        *,
        using: str | None = None,
        notices: Notices | None = None,
    ) -> Sequence[int]:
        """Store `events` (type, data) on `channel` as `Event.save()` would, one after the other,
        in one or two statements; their ids. In the caller's transaction when there is one.

        `notices` (PostgreSQL only): a `NOTIFY` per event, sent by the same statement, each payload
        the event's `(head, tail)` with its id between.
        """
        if not events:
            return ()
        connection = connections[using or storage_alias()]
        if notices is not None and connection.vendor != "postgresql":
            raise ValueError("notifications are sent by PostgreSQL only")
        rows = [(event_type, json.dumps(data, cls=DjangoJSONEncoder)) for event_type, data in events]
        ids: Sequence[int]
        if connection.vendor == "postgresql":
            ids = _numbered(_append_postgresql(connection, channel, rows, notices), len(rows))
        elif _sqlite_can_upsert(connection):
            ids = _numbered(_append_sqlite(connection, channel, rows), len(rows))
        else:  # another database: django-eventstream's own way, an event at a time (it trims)
            ids = [int(DjangoModelStorage.append_event(self, channel, *event).id) for event in events]
            self.stored(channel, ids)
            return ids
        self.stored(channel, ids)
        self.trim_event_log()
        return ids

    def stored(self, channel: str, ids: Sequence[int]) -> None:
        """Called after `ids` were stored on `channel`; a subclass bounds what it keeps here."""

    def trim_event_log(self) -> None:
        self.expire()

    def expire(self) -> None:
        super().trim_event_log()


def storage_alias() -> str:
    """The database django-eventstream's model storage writes events to."""
    return router.db_for_write(event_model()) or "default"


def _numbered(last: int, count: int) -> range:
    return range(last - count + 1, last + 1)


def _sqlite_can_upsert(connection: Any) -> bool:
    # RETURNING came with SQLite 3.35, and JSON (the rows travel as one array) built in with 3.38.
    return bool(connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 38))


def _names(connection: Any) -> dict[str, str]:
    """The two tables and their columns, quoted for `connection`."""
    quote = name_quoter(connection)
    event: Any = event_model()._meta
    counter: Any = counter_model()._meta
    names = {"events": quote(event.db_table), "counters": quote(counter.db_table)}
    for field in ("channel", "type", "data", "eid", "created"):
        names[field] = quote(event.get_field(field).column)
    for field in ("name", "value", "updated"):
        names[f"counter_{field}"] = quote(counter.get_field(field).column)
    return names


# Advances the channel's counter by the number of events and says where it ends; creates the
# counter when the channel has none. Its row lock, held to the end of the transaction, is what
# keeps two writers' ids apart.
_COUNTER_SQL = (
    "INSERT INTO {counters} ({counter_name}, {counter_value}, {counter_updated}) VALUES (%s, %s, %s)"
    " ON CONFLICT ({counter_name}) DO UPDATE SET"
    " {counter_value} = {counters}.{counter_value} + excluded.{counter_value},"
    " {counter_updated} = excluded.{counter_updated}"
    " RETURNING {counter_value}"
)


def _append_sqlite(connection: Any, channel: str, rows: list[tuple[str, str]]) -> int:
    names = _names(connection)
    now = datetime_adapter(connection)(timezone.now())
    insert = (
        "INSERT INTO {events} ({channel}, {type}, {data}, {eid}, {created})"
        " SELECT %s, json_extract(value, '$[0]'), json_extract(value, '$[1]'), %s + key, %s"
        " FROM json_each(%s)"
    ).format(**names)
    # Both statements in one transaction (the caller's, or one of their own taken IMMEDIATE where
    # the settings say so): no reader sees the counter ahead of its events.
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        cursor.execute(_COUNTER_SQL.format(**names), [channel, len(rows), now])
        last = int(cursor.fetchone()[0])
        first = last - len(rows) + 1
        if first == 1:  # the channel's first events: the placeholder before them
            rows = [("", ""), *rows]
            first = 0
        cursor.execute(insert, [channel, first, now, json.dumps(rows, ensure_ascii=False)])
    return last


def _append_postgresql(
    connection: Any, channel: str, rows: list[tuple[str, str]], notices: Notices | None
) -> int:
    now = datetime_adapter(connection)(timezone.now())
    params: list[Any] = [channel, len(rows), now]
    if len(rows) == 1:  # plain values: quoting arrays costs a single event a third more
        source = "(SELECT %s AS type, %s AS data, 1 AS n)"
        params += rows[0]
    else:
        source = "unnest(%s::text[], %s::text[]) WITH ORDINALITY"
        params += [[event_type for event_type, _ in rows], [data for _, data in rows]]
    notifying, notify_params = _notifying(notices)
    # One statement, so one transaction even outside the caller's: the counter, then the events
    # numbered from where it ends (the placeholder first when the counter is new); the NOTIFYs
    # ride with it, so PostgreSQL sends them once the rows they announce are committed.
    sql = (
        "WITH args AS (SELECT %s::text AS channel, %s::bigint AS n, %s::timestamptz AS at),"
        " counter AS (INSERT INTO {counters} ({counter_name}, {counter_value}, {counter_updated})"
        " SELECT channel, n, at FROM args ON CONFLICT ({counter_name}) DO UPDATE SET"
        " {counter_value} = {counters}.{counter_value} + excluded.{counter_value},"
        " {counter_updated} = excluded.{counter_updated} RETURNING {counter_value} AS newest),"
        " stored AS (INSERT INTO {events} ({channel}, {type}, {data}, {eid}, {created})"
        " SELECT args.channel, r.type, r.data, newest - args.n + r.n, args.at"
        " FROM args, counter, " + source + " AS r(type, data, n)"
        " UNION ALL SELECT args.channel, '', '', 0, args.at FROM args, counter WHERE newest = args.n)"
        " SELECT newest" + notifying + " FROM counter"
    ).format(**_names(connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params + notify_params)
        return int(cursor.fetchone()[0])


def _notifying(notices: Notices | None) -> tuple[str, list[Any]]:
    """The select list's NOTIFYs, one per event in order, each payload with its id spliced in;
    and their parameters."""
    if notices is None:
        return "", []
    pg_channel, parts = notices
    if len(parts) == 1:
        return ", pg_notify(%s, %s || newest || %s)", [pg_channel, *parts[0]]
    return (
        ", (SELECT count(pg_notify(%s, x.head || (newest - args.n + x.n) || x.tail))"
        " FROM args, unnest(%s::text[], %s::text[]) WITH ORDINALITY AS x(head, tail, n))",
        [pg_channel, [head for head, _ in parts], [tail for _, tail in parts]],
    )


def event_model() -> type[models.Model]:
    """django-eventstream's stored event: `channel`, `eid` (the id in its channel), `created`."""
    from django_eventstream.models import Event

    return Event  # type: ignore[no-any-return]


def stored_events() -> models.QuerySet[Any]:
    """Every stored event, to filter on `channel`, `eid` and `created`."""
    return event_model()._default_manager.all()


def counter_model() -> type[models.Model]:
    """django-eventstream's per-channel id counter."""
    from django_eventstream.models import EventCounter

    return EventCounter  # type: ignore[no-any-return]


def notify_listeners(channel: str, event_type: str, data: str, event_id: int | None) -> None:
    """Queue an event for django-eventstream's own streams in this process (its `/events/` view)."""
    from django_eventstream.event import Event
    from django_eventstream.views import get_listener_manager

    get_listener_manager().add_to_queues(channel, Event(channel, event_type, data, id=event_id))


def publish_to_grip(channel: str, event_type: str, data: str, event_id: int | None) -> None:
    """Publish an event to Pushpin (GRIP), chained to the one before it in its channel."""
    from django_eventstream.utils import publish_event

    prev = None if event_id is None else str(event_id - 1)
    publish_event(channel, event_type, data, None if event_id is None else str(event_id), prev)


def grip_response(request: HttpRequest, channels: list[str]) -> HttpResponseBase:
    """django-eventstream's GRIP answer: the events to replay, and the instructions that tell
    Pushpin to hold the connection open on `channels`."""
    from django_eventstream.eventrequest import EventRequest
    from django_eventstream.eventstream import get_events

    event_request = EventRequest(request, view_kwargs={"channels": channels})
    response: HttpResponseBase = get_events(event_request).to_grip_response(request)
    return response
