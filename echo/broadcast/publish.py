"""Publishing typed events to broadcast channels, from anywhere.

`publish(channel, event)` stores the event with django-eventstream's storage (which gives it the
channel's next id and keeps it for replay; `publish_many(channel, events)` stores many in the same
few statements), then hands it to every place a subscriber may be
listening: this process's hub, the other processes through Redis when `REDIS_URL` is set (or
PostgreSQL's NOTIFY, see `echo.broadcast.notify`), Pushpin through
GRIP when `GRIP_URL` is set, and django-eventstream's own listeners. Any process that
can reach the database can publish: a view, `manage.py shell`, a worker. Processes without Redis
also find events published elsewhere by polling the storage (`BROADCAST_POLL_INTERVAL`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from echo.sse import BaseEvent
from echo.sse.glue.django_internals import in_transaction

from . import eventstream, metrics, notify, relay
from .access import channel_manager, valid_channel
from .channels import require_declared
from .conf import grip_url
from .exceptions import RelayUnavailable
from .hub import hub
from .published import Published
from .storage import get_storage

__all__ = ["apublish", "apublish_many", "publish", "publish_many"]

logger = logging.getLogger("echo.broadcast")


def publish(channel: str, event: BaseEvent[Any], *, strict: bool = False) -> int | None:
    """Store `event` on `channel` and deliver it once stored for good; returns the channel's id for it.

    Inside a transaction (`transaction.atomic()`, `ATOMIC_REQUESTS`, a `post_save` receiver) the
    event is stored in that transaction and announced to subscribers when it commits: an event
    rolled back reaches no one, so the id the rollback frees is announced once, with the event
    that takes it next. Outside one, it is stored and announced at once.

    `UndeclaredChannel` or `UndeclaredEvent` (`echo.broadcast.channels`) when the channel's
    declaration does not allow it: raised before anything is stored.

    When Redis cannot be reached the event is still stored and delivered here (other processes
    find it by their storage poll): a warning is logged, or with `strict` `RelayUnavailable`
    (carrying the stored event's id) is raised, after the event is stored and delivered locally.
    Inside a transaction the announcement runs after the commit, where nothing can be raised to
    the caller: `strict` then changes nothing and a relay failure is logged.
    """
    (event_id,) = _publish(channel, (event,), strict=strict)
    return event_id


def publish_many(channel: str, events: Iterable[BaseEvent[Any]], *, strict: bool = False) -> list[int | None]:
    """`publish` for each of `events`, in order, on one channel: stored together in the same one
    or two statements as one event (on SQLite and PostgreSQL), numbered consecutively, announced
    together; their ids. Every event is checked against the channel's declaration before any is
    stored. With `strict`, `RelayUnavailable` carries the last event's id (all are stored)."""
    return _publish(channel, tuple(events), strict=strict)


def _publish(channel: str, events: Sequence[BaseEvent[Any]], *, strict: bool) -> list[int | None]:
    if not apps.is_installed("echo.broadcast"):
        raise ImproperlyConfigured(
            "publish() needs the broadcast app: add 'echo.broadcast' (and 'django_eventstream') "
            "to INSTALLED_APPS and path('', include('echo.urls')) to your URLs."
        )
    if not valid_channel(channel):
        raise ValueError(f"invalid channel name: {channel!r}")
    if not events:
        return []
    patterns = [require_declared(channel, event).pattern for event in events]
    # Stamped before storing: the notification the storing statement sends carries it (lag).
    now = time.time()
    items = [Published(channel, None, event.event_name, event.data_json(), now) for event in events]
    storage = get_storage()
    alias = notify.storage_alias()
    if storage is not None and channel_manager().is_channel_reliable(channel):
        _store(storage, items, alias)
    announce = functools.partial(_announce, items, patterns[0])
    if in_transaction(alias):
        transaction.on_commit(announce, using=alias, robust=True)
    else:
        announce(strict=strict)
    return [item.id for item in items]


def _announce(items: list[Published], pattern: str, *, strict: bool = False) -> None:
    """Hand stored (or unstored) events to every place a subscriber may be listening."""
    now = time.time()
    for item in items:
        item.at = now
        hub.deliver_threadsafe(item)
    metrics.published.inc(pattern, amount=len(items))
    relay_error: RelayUnavailable | None = None
    try:
        relay.publish_many(items)
    except RelayUnavailable as exc:
        relay_error = exc
        if not strict:  # a strict caller is told by the exception
            logger.warning("Published %s:%s here only: %s", items[0].channel, _ids(items), exc)
    grip = bool(grip_url())
    for item in items:
        if grip:
            eventstream.publish_to_grip(item.channel, item.event, item.data, item.id)
        eventstream.notify_listeners(item.channel, item.event, item.data, item.id)
    if relay_error is not None and strict:
        raise RelayUnavailable(str(relay_error), event_id=items[-1].id)


def _ids(items: list[Published]) -> str:
    first, last = items[0].id, items[-1].id
    return str(first) if len(items) == 1 else f"{first}-{last}"


def _store(storage: eventstream.EventStorage, items: list[Published], alias: str) -> None:
    channel = items[0].channel
    notifying = notify.enabled()
    if isinstance(storage, eventstream.ModelStorage):
        # The NOTIFYs ride in the storing statement: sent by PostgreSQL when its rows commit.
        notices = (notify.CHANNEL, [notify.payload_around_id(item) for item in items]) if notifying else None
        rows = [(item.event, item.data) for item in items]
        ids: Sequence[int] = storage.append_events(channel, rows, using=alias, notices=notices)
        notifying = False
    else:  # a site's own storage: its interface stores one event at a time
        ids = [int(storage.append_event(channel, item.event, item.data).id) for item in items]
    for item, event_id in zip(items, ids, strict=True):
        item.id = event_id
    if notifying:
        # Not in one transaction with the appends: django-eventstream creates a channel's counter
        # by catching an IntegrityError, which would break an enclosing transaction. A caller's
        # own transaction holds both, and PostgreSQL sends a NOTIFY only when it commits.
        notify.send_many(items, alias)


async def apublish(channel: str, event: BaseEvent[Any]) -> int | None:
    return await sync_to_async(publish)(channel, event)


async def apublish_many(channel: str, events: Iterable[BaseEvent[Any]]) -> list[int | None]:
    return await sync_to_async(publish_many)(channel, tuple(events))
