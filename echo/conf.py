"""The `ECHO` settings namespace, merged over defaults and read lazily.

Nothing is read at import time: `app_settings` looks the setting up on first use and caches it
until Django's `setting_changed` signal says otherwise, so `override_settings` works in tests.
The same Pydantic model types the values and backs the `echo.E002` system check.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EchoSettings", "app_settings", "load"]


_Count = Annotated[int, Field(ge=0)]


class EchoSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    # Seconds a stream may stay silent before a keep-alive comment; None turns pings off.
    PING_INTERVAL: Annotated[float, Field(gt=0)] | None = 15.0
    # Reconnection delay (ms) sent as `retry:` when a stream opens; None sends none.
    RETRY: Annotated[int, Field(ge=0)] | None = None
    # Longest `message` the echo streams accept.
    MESSAGE_MAX_LENGTH: Annotated[int, Field(ge=1)] = 1000
    # Reconnection hint (ms) on the final event of a stream ended by an operator or a shutdown.
    FINAL_RETRY: Annotated[int, Field(ge=0)] = 3000
    # On SIGTERM, end streams with a final event before the server stops (at most this many seconds).
    GRACEFUL_SHUTDOWN: bool = True
    SHUTDOWN_GRACE: Annotated[float, Field(gt=0, le=60)] = 5.0
    # Record every stream as a StreamSession row (a view can opt out with `record=False`).
    RECORD_SESSIONS: bool = True
    # Seconds between progress writes of a live session's counters (never a write per event).
    SESSION_PROGRESS_INTERVAL: Annotated[float, Field(gt=0)] = 5.0
    # Threads kept by echo.sse.asgi.ASGIHandler for the sync parts of requests (middleware,
    # signals, sync_to_async): borrowed per request instead of one started per request.
    SYNC_THREADS: Annotated[int, Field(ge=1, le=1024)] = 16
    # Under Daphne, send a connection's first write in a loop turn to the socket at once when
    # nothing is queued (see echo.sse.daphne) instead of a loop turn later through Twisted's buffer;
    # also give Daphne's connections an Inbox and a send that writes body parts straight to Twisted,
    # and let Daphne's lookups skip Twisted's deprecation proxy.
    DAPHNE_DIRECT_WRITES: bool = True
    # Once the ASGI application is set up, freeze what is loaded (Django, apps, URLconf) out of the
    # cyclic collector's view, and set its thresholds: with thousands of open streams the default
    # thresholds mean frequent collections that walk every stream's objects (see ARCHITECTURE.md).
    GC_FREEZE: bool = True
    GC_THRESHOLD: Annotated[tuple[_Count, _Count, _Count] | None, Field(strict=False)] = (10_000, 10, 10)
    # Broadcast events a subscriber may fall behind before it catches up from storage.
    BROADCAST_BUFFER: Annotated[int, Field(ge=1)] = 1000
    # Seconds between looks at storage for events published by processes this one cannot hear
    # (no Redis); None turns the poll off.
    BROADCAST_POLL_INTERVAL: Annotated[float, Field(gt=0)] | None = 1.0


def load() -> EchoSettings:
    """Validate `settings.ECHO`; raises `pydantic.ValidationError` when it is wrong."""
    return EchoSettings.model_validate(getattr(settings, "ECHO", {}))


_cached = functools.cache(load)


class _LazySettings:
    def __getattr__(self, name: str) -> Any:
        return getattr(_cached(), name)


app_settings: EchoSettings = _LazySettings()  # type: ignore[assignment]


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == "ECHO":
        _cached.cache_clear()
