"""The control events: what the toolkit and its features send besides a stream's own events.

Typed like any other event, so the schema documents them and a client reads them by name. The
terminal ones (`completed`, `shutdown`, `terminated`, `error`, `slow_client`, `stream-error`) are
the end reasons' events, defined with their table in `echo.sse.wire.endings` and named here too:

- `completed`: the stream's source ran out, everything is sent; the client should not reconnect
  (a browser's `EventSource` does, and a reconnect of a stream with nothing more to send is
  answered 204 No Content, which stops it).
- `shutdown`: the server is stopping; reconnect after the `retry:` it carries (same ids).
- `terminated`: an operator ended this session (`echo.sessions`); the client should not reconnect
  on its own.
- `error`: the stream's source failed on the server; details are in the server's log, not here.
- `slow_client`: the end reason of a stream whose client stopped reading, never sent: nothing can
  be written then (the connection's buffer is full); the client sees the body end, and resumes
  by `Last-Event-ID`.
- `stream-open`, `stream-reset`, `stream-error`: a broadcast subscription's first event (its id
  is where the subscriber joined), a gap (a channel's ids went back, or stored events were
  pruned: events may be missing), and an overflow (it fell too far behind: reconnect; the
  stream is recorded as `fell_behind`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .endings import (
    Completed,
    EndPayload,
    EndReason,
    Error,
    Shutdown,
    SlowClient,
    StreamErrorPayload,
    StreamFailed,
    Terminated,
)
from .typed_events import BaseEvent

__all__ = [
    "CONTROL_EVENTS",
    "Completed",
    "EndPayload",
    "Error",
    "ResetPayload",
    "Shutdown",
    "SlowClient",
    "StreamErrorPayload",
    "StreamFailed",
    "StreamOpen",
    "StreamReset",
    "Terminated",
]


class StreamOpen(BaseEvent[str]):
    """Empty data; its id is the subscriber's position in every channel it joined."""

    event_name = "stream-open"
    data_format = "text"


class ResetPayload(BaseModel):
    channels: list[str]


class StreamReset(BaseEvent[ResetPayload]):
    """A gap: these channels' ids went back, or stored events were pruned; events may be missing."""

    event_name = "stream-reset"


# The terminal events the toolkit may send on any stream (`terminated` on a recorded one): every
# stream's contract lists them.
CONTROL_EVENTS: tuple[type[BaseEvent[Any]], ...] = tuple(
    reason.event for reason in EndReason if reason.event is not None and reason.any_stream
)
