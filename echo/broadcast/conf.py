"""The `ECHO` keys broadcast channels read (see `echo.sse.conf`)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from django.conf import settings
from pydantic import Field

from echo.sse.conf import Section, lazy

__all__ = ["BroadcastSettings", "app_settings", "grip_url"]


class BroadcastSettings(Section):
    owner: ClassVar[str] = "echo.broadcast"

    # Broadcast events a subscriber may fall behind before it catches up from storage.
    BROADCAST_BUFFER: Annotated[int, Field(ge=1)] = 1000
    # Seconds between looks at storage for events published by processes this one cannot hear
    # (no Redis); None turns the poll off.
    BROADCAST_POLL_INTERVAL: Annotated[float, Field(gt=0)] | None = 1.0
    # PostgreSQL LISTEN/NOTIFY carries events between processes (echo.broadcast.notify). None: on
    # when events are stored in PostgreSQL with psycopg 3 and REDIS_URL is not set.
    BROADCAST_NOTIFY: bool | None = None
    # Channels one subscription (`/events/a,b,c/`) may name; more is a 400.
    MAX_CHANNELS: Annotated[int, Field(ge=1, le=1000)] = 32
    # Publishing over HTTP, per client address and process: publishes per second on average, and
    # at once; past it a JSON 429 with Retry-After. None: no limit.
    PUBLISH_RATE: Annotated[float, Field(gt=0)] | None = 2.0
    PUBLISH_BURST: Annotated[int, Field(ge=1)] = 10
    # The largest request body `POST /events/<channel>/publish` reads; more is a JSON 413.
    PUBLISH_MAX_BYTES: Annotated[int, Field(ge=1)] = 65_536
    # Stored events kept per channel (the newest), and for how many seconds; older ones are
    # deleted as events are stored (echo.broadcast.storage.RetainingModelStorage) or by
    # `manage.py trim_events`. None: no bound of that kind.
    BROADCAST_KEEP_EVENTS: Annotated[int, Field(ge=1)] | None = 10_000
    BROADCAST_KEEP_SECONDS: Annotated[float, Field(gt=0)] | None = 86_400.0
    # Redis that carries published events between processes (redis://...); empty: none.
    REDIS_URL: str = ""


app_settings: BroadcastSettings = lazy(BroadcastSettings)


def grip_url() -> str:
    """Pushpin's publish endpoint: django-eventstream's own `GRIP_URL` setting, read in one place."""
    return str(getattr(settings, "GRIP_URL", "") or "")
