"""How a stream ends: one table, a row per reason.

Each `EndReason` member is a whole row: its value (stored as `StreamSession.end_reason`, the
metrics' `reason` label), its admin label, its precedence (`decide_end`), its terminal event,
the `retry:` that event carries, and what a client does on reading it. Everything else reads the
table: the response (which end wins, the final event), `echo.sessions` (the model's choices),
`echo.client.policy` (reconnect or stop), `echo.sse.wire.control.CONTROL_EVENTS` (the events every
stream's contract lists). Adding a reason is one row here, and a migration for the model's choices.

A source ends its stream with a reason of its own by yielding `StreamEnd(reason, final)`.

No Django here, and no settings read: the client imports this module.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Protocol

from pydantic import BaseModel

from .encode import ServerSentEvent
from .typed_events import BaseEvent

__all__ = [
    "Completed",
    "EndPayload",
    "EndReason",
    "Ending",
    "Error",
    "Retry",
    "Shutdown",
    "SlowClient",
    "StreamEnd",
    "StreamErrorPayload",
    "StreamFailed",
    "Terminated",
    "Then",
    "decide_end",
]


class EndPayload(BaseModel):
    reason: EndReason


class Completed(BaseEvent[EndPayload]):
    """The stream has sent everything it has: do not reconnect (a reconnect is answered 204)."""


class Shutdown(BaseEvent[EndPayload]):
    """The server is stopping: reconnect after the `retry:` this event carries."""


class Terminated(BaseEvent[EndPayload]):
    """An operator ended this session: do not reconnect on your own."""


class Error(BaseEvent[EndPayload]):
    """The stream's source failed on the server (the details are in its log)."""


class SlowClient(BaseEvent[EndPayload]):
    """The end reason of a stream whose client stopped reading: never delivered (nothing can be
    written then: the connection's buffer is full)."""


class StreamErrorPayload(BaseModel):
    condition: str
    text: str


class StreamFailed(BaseEvent[StreamErrorPayload]):
    """The subscriber fell too far behind to catch up: reconnect with the last id read."""

    event_name = "stream-error"


class Retry(enum.Enum):
    """The `retry:` a terminal event carries."""

    NONE = "none"
    FINAL = "final"  # ECHO["FINAL_RETRY"]
    # FINAL_RETRY plus a random share of FINAL_RETRY_SPREAD, drawn per stream: the clients of a
    # stopping server do not all come back in the same second.
    SPREAD = "spread"


class Then(enum.Enum):
    """What a client does when it reads a reason's terminal event."""

    RECONNECT = "reconnect"  # at once (after `retry:`)
    BACK_OFF = "back_off"  # a failed attempt: reconnect after a growing delay
    STOP = "stop"  # the stream is over for good


class RetrySettings(Protocol):
    @property
    def FINAL_RETRY(self) -> int: ...

    @property
    def FINAL_RETRY_SPREAD(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Ending:
    """One row of the table (see `EndReason`)."""

    value: str
    label: str
    # Of two ends that happen together, the higher wins (`decide_end`); equals: the first.
    precedence: int
    event: type[BaseEvent[Any]] | None = None
    retry: Retry = Retry.NONE
    then: Then = Then.RECONNECT
    # The toolkit may send `event` on any stream, so every stream's contract lists it; otherwise
    # it is the source's own, in the source's contract.
    any_stream: bool = True


# No docstring: it would become the reason's description in every published JSON Schema.
# The precedence: a slow client above all (nothing more can reach it), then what the stream itself
# saw (its source ran out or failed, an operator, a source's own end), then a shutdown, which
# counts a disconnect that happened while the server was stopping.
class EndReason(enum.StrEnum):
    _value_: str
    label: str
    precedence: int
    event: type[BaseEvent[Any]] | None
    retry_policy: Retry
    then: Then
    any_stream: bool

    def __new__(cls, row: Ending) -> EndReason:
        member = str.__new__(cls, row.value)
        member._value_ = row.value
        member.label = row.label
        member.precedence = row.precedence
        member.event = row.event
        member.retry_policy = row.retry
        member.then = row.then
        member.any_stream = row.any_stream
        return member

    COMPLETED = Ending("completed", "completed", 2, Completed, then=Then.STOP)
    CLIENT_DISCONNECTED = Ending("client_disconnected", "client disconnected", 0)
    SERVER_SHUTDOWN = Ending("server_shutdown", "server shutdown", 1, Shutdown, Retry.SPREAD)
    TERMINATED = Ending("terminated", "terminated", 2, Terminated, Retry.FINAL, Then.STOP)
    ERROR = Ending("error", "error", 2, Error, then=Then.BACK_OFF)
    SLOW_CLIENT = Ending("slow_client", "slow client", 3, SlowClient)
    FELL_BEHIND = Ending("fell_behind", "fell behind", 2, StreamFailed, any_stream=False)

    def final_event(self, settings: RetrySettings | None = None) -> ServerSentEvent | None:
        """This reason's terminal event, for a reason whose event carries it (`EndPayload`);
        `settings` gives the `retry:` (None: no `retry:`)."""
        if self.event is None or self.event.model_fields["data"].annotation is not EndPayload:
            return None
        retry: int | None = None
        if settings is not None and self.retry_policy is not Retry.NONE:
            retry = settings.FINAL_RETRY
            if self.retry_policy is Retry.SPREAD:
                retry += random.randint(0, settings.FINAL_RETRY_SPREAD)
        return self.event(data=EndPayload(reason=self)).to_sse(retry=retry)


EndPayload.model_rebuild()


def decide_end(*happened: EndReason) -> EndReason:
    """The reason a stream is recorded with, of those that happened: the highest precedence, the
    first of equals."""
    return max(happened, key=attrgetter("precedence"))


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """Yielded by a source to end its stream with `reason`: `final` (if any) is sent last, else
    the reason's own terminal event."""

    reason: EndReason
    final: ServerSentEvent | BaseEvent[Any] | None = None
