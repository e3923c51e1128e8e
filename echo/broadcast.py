"""Publishing typed events to broadcast channels, from anywhere.

`publish(channel, event)` stores the event with django-eventstream's storage (which gives it the
channel's next id and keeps it for replay), then hands it to every place a subscriber may be
listening: this process's hub, the other processes through Redis when `REDIS_URL` is set, Pushpin
through GRIP when `GRIP_URL` is set, and django-eventstream's own listeners. Any process that
can reach the database can publish: a view, `manage.py shell`, a worker. Processes without Redis
also find events published elsewhere by polling the storage (`BROADCAST_POLL_INTERVAL`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.conf import settings

from .access import valid_channel
from .sse import BaseEvent, ServerSentEvent

__all__ = ["Published", "apublish", "event_types", "publish", "register_event_type"]

logger = logging.getLogger("echo.broadcast")

RELAY_CHANNEL = "echo.broadcast"


@dataclass(slots=True)
class Published:
    """One broadcast event as delivered: the channel's id for it is None when it is not stored."""

    channel: str
    id: int | None
    event: str
    data: str
    _sse: ServerSentEvent | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> str:
        return json.dumps({"channel": self.channel, "id": self.id, "event": self.event, "data": self.data})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Published:
        body = json.loads(raw)
        return cls(str(body["channel"]), body["id"], str(body["event"]), str(body["data"]))

    def single_channel_event(self) -> ServerSentEvent:
        """The event as a one-channel subscriber receives it; built and encoded once for all."""
        if self._sse is None:
            event_id = None if self.id is None else f"{quote(self.channel)}:{self.id}"
            self._sse = ServerSentEvent(data=self.data, event=self.event, id=event_id)
        return self._sse


_event_types: dict[str, type[BaseEvent[Any]]] = {}


def register_event_type(*classes: type[BaseEvent[Any]]) -> None:
    """Make event types known to `manage.py publish` (call it from an `AppConfig.ready()`)."""
    for cls in classes:
        known = _event_types.get(cls.event_name)
        if known is not None and known is not cls:
            raise ValueError(
                f"event name {cls.event_name!r} is taken by {known.__module__}.{known.__qualname__}"
            )
        _event_types[cls.event_name] = cls


def event_types() -> dict[str, type[BaseEvent[Any]]]:
    """The registered event types, by event name."""
    return dict(_event_types)


def publish(channel: str, event: BaseEvent[Any]) -> int | None:
    """Store and deliver `event` on `channel`; returns the id the channel gave it."""
    from django_eventstream.event import Event
    from django_eventstream.utils import get_channelmanager, get_storage
    from django_eventstream.views import get_listener_manager

    from . import hub

    if not valid_channel(channel):
        raise ValueError(f"invalid channel name: {channel!r}")
    data = event.data_json()
    storage = get_storage()
    event_id: int | None = None
    if storage is not None and get_channelmanager().is_channel_reliable(channel):
        event_id = int(storage.append_event(channel, event.event_name, data).id)
    item = Published(channel, event_id, event.event_name, data)
    hub.hub.deliver_threadsafe(item)
    hub.relay_publish(item)
    if getattr(settings, "GRIP_URL", None):
        from django_eventstream.utils import publish_event

        prev = None if event_id is None else str(event_id - 1)
        publish_event(channel, event.event_name, data, None if event_id is None else str(event_id), prev)
    get_listener_manager().add_to_queues(channel, Event(channel, event.event_name, data, id=event_id))
    return event_id


async def apublish(channel: str, event: BaseEvent[Any]) -> int | None:
    return await sync_to_async(publish)(channel, event)
