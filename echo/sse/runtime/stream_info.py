"""What the toolkit knows about each open stream: `StreamInfo` (how it ended: `echo.sse.wire.endings`).

`EventStreamResponse` creates a `StreamInfo` when it is built and keeps its counters current
(plain attribute increments, no I/O); observers (`echo.sse.runtime.registry`) get that live object.
"""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..wire.endings import EndReason

if TYPE_CHECKING:
    from ..wire.encode import ServerSentEvent

__all__ = ["StreamInfo", "new_stream_id"]


def _now() -> datetime:
    return datetime.now(UTC)


# Stream ids: a random 64-bit prefix drawn once per process, then a counter. Unique across
# processes and cheap: uuid4() asks the OS for randomness on every stream, which costs a system
# call per connection (hundreds of microseconds on some virtual machines).
_id_state: dict[str, Any] = {}


def _new_id_prefix() -> None:
    _id_state["prefix"] = int.from_bytes(os.urandom(8), "big") << 64
    _id_state["count"] = itertools.count(1)


_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)  # a forked worker must not repeat its parent's ids


def new_stream_id() -> uuid.UUID:
    return uuid.UUID(int=_id_state["prefix"] | next(_id_state["count"]))


@dataclass(slots=True)
class StreamInfo:
    id: uuid.UUID = field(default_factory=new_stream_id)
    name: str = ""
    path: str = ""
    query: str = ""
    client: str | None = None
    user_agent: str = ""
    user_id: int | None = None
    started_at: datetime = field(default_factory=_now)
    ended_at: datetime | None = None
    events_sent: int = 0
    bytes_sent: int = 0
    last_event_id: str = ""
    end_reason: EndReason | None = None
    error: str = ""
    # Without a name given by the view, the stream is named after the event types it has sent,
    # in the order they first appeared: `echo`, then `echo+reverse_echo`.
    named_by_view: bool = False
    event_names: list[str] = field(default_factory=list)

    def sent(self, event: ServerSentEvent, size: int) -> None:
        """Count `event`, `size` bytes on the wire, as sent."""
        self.events_sent += 1
        self.bytes_sent += size
        if event.id is not None:
            self.last_event_id = str(event.id)
        self.saw_event(event.event)

    def saw_event(self, event_name: str | None) -> None:
        name = event_name or "message"
        if name not in self.event_names:
            self.event_names.append(name)
            if not self.named_by_view:
                self.name = "+".join(self.event_names)

    def end(self, reason: EndReason, error: str = "") -> None:
        self.ended_at = _now()
        self.end_reason = reason
        self.error = error
