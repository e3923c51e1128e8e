"""Publishing typed events to broadcast channels, from anywhere.

`publish(channel, event)` stores the event with django-eventstream's storage (which gives it the
channel's next id and keeps it for replay), then hands it to every place a subscriber may be
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

__all__ = ["apublish", "publish"]

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
    if not apps.is_installed("echo.broadcast"):
        raise ImproperlyConfigured(
            "publish() needs the broadcast app: add 'echo.broadcast' (and 'django_eventstream') "
            "to INSTALLED_APPS and path('', include('echo.urls')) to your URLs."
        )
    if not valid_channel(channel):
        raise ValueError(f"invalid channel name: {channel!r}")
    spec = require_declared(channel, event)
    item = Published(channel, None, event.event_name, event.data_json())
    storage = get_storage()
    alias = notify.storage_alias()
    if storage is not None and channel_manager().is_channel_reliable(channel):
        _store(storage, item, alias)
    if in_transaction(alias):
        transaction.on_commit(functools.partial(_announce, item, spec.pattern), using=alias, robust=True)
    else:
        _announce(item, spec.pattern, strict=strict)
    return item.id


def _announce(item: Published, pattern: str, *, strict: bool = False) -> None:
    """Hand a stored (or unstored) event to every place a subscriber may be listening."""
    item.at = time.time()
    event_id = item.id
    metrics.published.inc(pattern)
    hub.deliver_threadsafe(item)
    relay_error: RelayUnavailable | None = None
    try:
        relay.publish(item)
    except RelayUnavailable as exc:
        relay_error = exc
        if not strict:  # a strict caller is told by the exception
            logger.warning("Published %s:%s here only: %s", item.channel, event_id, exc)
    if grip_url():
        eventstream.publish_to_grip(item.channel, item.event, item.data, event_id)
    eventstream.notify_listeners(item.channel, item.event, item.data, event_id)
    if relay_error is not None and strict:
        raise RelayUnavailable(str(relay_error), event_id=event_id)


def _store(storage: eventstream.EventStorage, item: Published, alias: str) -> None:
    item.id = int(storage.append_event(item.channel, item.event, item.data).id)
    if notify.enabled():
        # Not in one transaction with the append: django-eventstream creates a channel's counter
        # by catching an IntegrityError, which would break an enclosing transaction when two
        # processes publish to a new channel at once. A caller's own transaction holds both, and
        # PostgreSQL sends a NOTIFY only when that transaction commits.
        notify.send(item, alias)


async def apublish(channel: str, event: BaseEvent[Any]) -> int | None:
    return await sync_to_async(publish)(channel, event)
