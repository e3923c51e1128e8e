"""The control events: what the toolkit and its features send besides a stream's own events.

Typed like any other event, so the schema documents them and a client reads them by name:

- `shutdown`: the server is stopping; reconnect after the `retry:` it carries (same ids).
- `terminated`: an operator ended this session (`echo.sessions`); the client should not reconnect
  on its own.
- `error`: the stream's source failed on the server; details are in the server's log, not here.
- `slow_client`: the end reason of a stream whose client stopped reading. Nothing is written then
  (the connection's buffer is full): the client sees the body end, and resumes by `Last-Event-ID`.
- `stream-open`, `stream-reset`, `stream-error`: a broadcast subscription's first event (its id
  is where the subscriber joined), a gap (a channel's ids went back, or stored events were
  pruned: events may be missing), and an overflow (it fell too far behind: reconnect).
"""

from __future__ import annotations

from pydantic import BaseModel

from .events import BaseEvent
from .info import EndReason

__all__ = [
    "CONTROL_EVENTS",
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


class EndPayload(BaseModel):
    reason: EndReason


class Shutdown(BaseEvent[EndPayload]):
    """The server is stopping: reconnect after the `retry:` this event carries."""


class Terminated(BaseEvent[EndPayload]):
    """An operator ended this session: do not reconnect on your own."""


class Error(BaseEvent[EndPayload]):
    """The stream's source failed on the server (the details are in its log)."""


class SlowClient(BaseEvent[EndPayload]):
    """The end reason of a stream whose client stopped reading: never delivered (see the module)."""


class StreamOpen(BaseEvent[str]):
    """Empty data; its id is the subscriber's position in every channel it joined."""

    event_name = "stream-open"
    data_format = "text"


class ResetPayload(BaseModel):
    channels: list[str]


class StreamReset(BaseEvent[ResetPayload]):
    """A gap: these channels' ids went back, or stored events were pruned; events may be missing."""

    event_name = "stream-reset"


class StreamErrorPayload(BaseModel):
    condition: str
    text: str


class StreamFailed(BaseEvent[StreamErrorPayload]):
    """The subscriber fell too far behind to catch up: reconnect with the last id read."""

    event_name = "stream-error"


# Sent by any stream (the toolkit's) and by a recorded one (`terminated`).
CONTROL_EVENTS: tuple[type[BaseEvent[EndPayload]], ...] = (Shutdown, Terminated, Error, SlowClient)
