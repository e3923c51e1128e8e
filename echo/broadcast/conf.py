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
    # Redis that carries published events between processes (redis://...); empty: none.
    REDIS_URL: str = ""


app_settings: BroadcastSettings = lazy(BroadcastSettings)


def grip_url() -> str:
    """Pushpin's publish endpoint: django-eventstream's own `GRIP_URL` setting, read in one place."""
    return str(getattr(settings, "GRIP_URL", "") or "")
