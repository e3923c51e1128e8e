"""What the client does with each event and each failure, with no I/O: shared by the sync and the
async client.

- Every event with an id moves `last_event_id`, sent back as `Last-Event-ID` on reconnecting.
- `retry:` sets the reconnection delay, as in a browser.
- `shutdown`: the server is going away; reconnect after its `retry:` (spread by the jitter).
- `terminated`: an operator ended the session; the stream ends, no reconnection.
- `error`, `stream-error`: reconnect (with backoff for `error`, at once for an overflow).
- `stream-reset`: a gap; yielded when the caller listed `StreamReset`, else only counted.
- A body that ends, a network error, a 5xx, a 429/408: reconnect, failures backing off
  exponentially (`Reconnect`), `Retry-After` honoured. A 204 ends the stream; any other 4xx
  raises `StreamRefused`.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from echo.sse import BaseEvent
from echo.sse.contract import StreamContract, UnknownEvent
from echo.sse.control import Error, Shutdown, SlowClient, StreamFailed, StreamOpen, StreamReset, Terminated

__all__ = ["Action", "Reconnect", "Session", "StreamState", "answer", "event_types", "retry_after"]

E = TypeVar("E", bound=BaseEvent[Any])

_CONTROL: dict[str, type[BaseEvent[Any]]] = {
    cls.event_name: cls
    for cls in (Shutdown, Terminated, Error, SlowClient, StreamOpen, StreamReset, StreamFailed)
}


@dataclass(frozen=True)
class Reconnect:
    """How to come back. The delay before attempt n (n failures in a row, 0 after an event
    arrived) is `retry * multiplier**n`, at most `max_delay`, times a random factor in
    `[1 - jitter, 1]`; `retry` is the server's `retry:` hint, else `delay`. `max_attempts`:
    give up (`ReconnectFailed`) after that many failures in a row; None never gives up."""

    delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.5
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not (self.delay >= 0 and self.max_delay >= 0 and self.multiplier >= 1 and 0 <= self.jitter <= 1):
            raise ValueError(f"not a usable reconnection policy: {self!r}")


class Action(enum.Enum):
    YIELD = enum.auto()  # hand the event to the caller
    SKIP = enum.auto()  # nothing for the caller
    RECONNECT = enum.auto()  # this connection is done: come back
    STOP = enum.auto()  # the stream is over for good


def event_types(events: StreamContract[E] | Sequence[type[E]] | type[E]) -> tuple[type[E], ...]:
    if isinstance(events, StreamContract):
        return events.events
    if isinstance(events, type):
        return (events,)
    return tuple(events)


class Session(Generic[E]):
    """One logical stream across its connections: its position, its delay, its failures."""

    def __init__(self, events: tuple[type[E], ...], last_event_id: str, policy: Reconnect) -> None:
        self.by_name: dict[str, type[E]] = {}
        for cls in events:
            if self.by_name.setdefault(cls.event_name, cls) is not cls:
                raise TypeError(f"two event types are named {cls.event_name!r}")
        self.policy = policy
        self.last_event_id = last_event_id
        self.retry_ms: int | None = None
        self.failures = 0
        self.ended_by: BaseEvent[Any] | None = None  # the `terminated` event that ended it
        self.gaps = 0  # `stream-reset` events seen
        self.connections = 0

    def receive(self, name: str, data: str, event_id: str, retry: int | None) -> tuple[Action, Any]:
        """What to do with one event read from the wire (httpx-sse's fields)."""
        if retry is not None and retry >= 0:
            self.retry_ms = retry
        self.last_event_id = event_id
        if name == "message" and data == "" and name not in self.by_name:
            return Action.SKIP, None  # a block with only `retry:` or `id:` (httpx-sse yields it)
        self.failures = 0
        control = _CONTROL.get(name)
        mine = self.by_name.get(name)
        if control is not None:
            event: BaseEvent[Any] = (mine or control).from_data(data)
            after = self._control(control)
            if mine is not None and after is Action.SKIP:
                return Action.YIELD, event
            if after is Action.STOP:
                self.ended_by = event
            return after, event if mine is not None else None
        if mine is None:
            return Action.YIELD, UnknownEvent(name, data, event_id or None)
        return Action.YIELD, mine.from_data(data)

    def _control(self, control: type[BaseEvent[Any]]) -> Action:
        if control is Terminated:
            return Action.STOP
        if control in (Shutdown, Error, StreamFailed, SlowClient):
            if control is Error:
                self.failures += 1
            return Action.RECONNECT
        if control is StreamReset:
            self.gaps += 1
        return Action.SKIP

    def failed(self) -> None:
        self.failures += 1

    def delay(self, retry_after: float | None = None) -> float:
        """Seconds to wait before the next connection."""
        policy = self.policy
        base = policy.delay if self.retry_ms is None else self.retry_ms / 1000
        wait = min(policy.max_delay, base * policy.multiplier ** max(0, self.failures - 1))
        wait *= random.uniform(1 - policy.jitter, 1)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    def give_up(self) -> bool:
        return self.policy.max_attempts is not None and self.failures >= self.policy.max_attempts


def retry_after(value: str | None) -> float | None:
    """A `Retry-After` in seconds (the date form is not used by echo's servers: ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def answer(status: int, content_type: str) -> Action:
    """What an HTTP answer means before its body is read: YIELD (read the stream), STOP (204),
    RECONNECT (408, 429, 5xx), SKIP (any other 4xx or 3xx: read the body and raise)."""
    if status == 204:
        return Action.STOP
    if status in (408, 429) or status >= 500:
        return Action.RECONNECT
    if 200 <= status < 300:
        return Action.YIELD
    return Action.SKIP


def error_body(status: int, text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


class StreamState(Generic[E]):
    """What both clients' streams show of their `Session`: where the stream is, what ended it,
    the gaps it was told of, the connections it opened."""

    _session: Session[E]

    @property
    def last_event_id(self) -> str:
        return self._session.last_event_id

    @property
    def ended_by(self) -> BaseEvent[Any] | None:
        return self._session.ended_by

    @property
    def gaps(self) -> int:
        return self._session.gaps

    @property
    def connections(self) -> int:
        return self._session.connections
