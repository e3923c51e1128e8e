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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from django.db import models
from django.http import HttpRequest, HttpResponseBase
from django_eventstream.channelmanager import DefaultChannelManager
from django_eventstream.storage import DjangoModelStorage, EventDoesNotExist

__all__ = [
    "DefaultChannelManager",
    "DjangoModelStorage",
    "EventDoesNotExist",
    "EventStorage",
    "ModelStorage",
    "StoredEvent",
    "counter_model",
    "event_model",
    "grip_response",
    "load_class",
    "notify_listeners",
    "publish_to_grip",
    "stored_events",
]


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
    """`DjangoModelStorage` whose per-append expiry is `expire()`: django-eventstream calls its
    `trim_event_log()` after every append."""

    def trim_event_log(self) -> None:
        self.expire()

    def expire(self) -> None:
        super().trim_event_log()


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
