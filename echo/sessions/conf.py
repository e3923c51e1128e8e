"""The `ECHO` keys stream sessions read (see `echo.sse.conf`)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from echo.sse.conf import Section, lazy
from echo.sse.glue.redact import SECRET_NAMES

__all__ = ["SessionSettings", "app_settings"]


class SessionSettings(Section):
    owner: ClassVar[str] = "echo.sessions"

    # Record every stream as a StreamSession row (a view can opt out with `record=False`); read
    # as each stream opens, so it can change at run time.
    RECORD_SESSIONS: bool = True
    # Seconds between progress writes of a live session's counters (never a write per event).
    SESSION_PROGRESS_INTERVAL: Annotated[float, Field(gt=0)] = 5.0
    # Seconds the session writer keeps a batch and tries again while the database cannot be
    # reached (a restart, a failover, SQLite's write lock held elsewhere) before it logs the
    # batch as lost. Streams never wait on it: their changes queue meanwhile.
    SESSION_WRITE_RETRY: Annotated[float, Field(ge=0)] = 60.0
    # Query parameters whose values are not recorded (`token=[redacted]`): a name matches when it
    # or one of its words (`access_token`, `apiKey`) is listed, whatever its case
    # (`echo.sse.glue.redact`). An empty list records queries as they came.
    SECRET_QUERY_PARAMETERS: Annotated[tuple[str, ...], Field(strict=False)] = SECRET_NAMES
    # The admin dashboard: seconds between the samples it charts (an hour of them is kept), and
    # between its updates of the open streams.
    DASHBOARD_SAMPLE_INTERVAL: Annotated[float, Field(ge=0.1, le=300)] = 5.0
    DASHBOARD_REFRESH: Annotated[float, Field(ge=0.1, le=60)] = 1.0
    # The same key broadcast reads: with it and no CHANNEL_LAYERS of the site's, the control bus
    # (terminate from the admin) reaches every process through a Redis channel layer of its own.
    REDIS_URL: str = ""


app_settings: SessionSettings = lazy(SessionSettings)
