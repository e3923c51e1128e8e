"""What the client does with each answer, each chunk of a body and each failure, with no I/O: the
sync and async clients only open connections, hand what they read to a `Session`, and sleep for
as long as it says.

- Every event with an id moves `last_event_id`, sent back as `Last-Event-ID` on reconnecting.
- `retry:` sets the reconnection delay, as in a browser.
- A terminal event (`echo.sse.wire.endings`, its reason's `then`): `shutdown`, `stream-error`: reconnect
  (after `retry:`, spread by the jitter); `error`: reconnect with backoff (a failed attempt);
  `terminated`: an operator ended the session, the stream ends, no reconnection.
- `completed`: the stream has sent everything: it ends, no reconnection (a reconnect would get
  204, which ends it too).
- An event yielded once is not yielded again on the same stream: a server that replays after
  `Last-Event-ID` (or ignores it) sends what was read already, and those events are dropped. An
  event is known by its name and its own `id:` line (the article's /sse3 numbers each source from
  0); events without one are never dropped. The last `SEEN_IDS` ids (at most `SEEN_ID_CHARS`
  characters of them) are remembered.
- `stream-reset`: a gap; yielded when the caller listed `StreamReset`, else only counted.
- A body that ends, a network error, a 5xx, a 429/408: reconnect, failures backing off
  exponentially (`Reconnect`), `Retry-After` honoured up to `max_delay`. A 204 ends the stream;
  any other 4xx raises `StreamRefused`.

What a server cannot make the client do, whatever it sends:
- hold more than `max_event_size` bytes of one event or one line: the body is decoded here, from
  bytes as they arrive (`EventDecoder`), and `EventTooLarge` is raised as soon as an unended line
  or an event's lines pass the limit; a compressed body is inflated here too, a bounded piece at a
  time (`Inflater`), since httpx inflates each network chunk whole (64 KiB of gzip can be 64 MB);
- read more than `ERROR_BODY_LIMIT` bytes of a refusal's body;
- connect more often than every `Reconnect.min_delay` seconds, whatever `retry:` says;
- keep it connecting forever with answers that carry no event: a connection that delivered none
  (an empty 200, comments only, a `retry:` alone) is a failed attempt for `max_attempts`;
- wait longer than `max_delay` because of a `Retry-After` (any form: huge, negative, a date).
"""

from __future__ import annotations

import enum
import json
import random
import re
import zlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypedDict, TypeVar

from httpx_sse import ServerSentEvent

from echo.sse import BaseEvent
from echo.sse.glue.contract import StreamContract, UnknownEvent
from echo.sse.wire.control import StreamOpen, StreamReset
from echo.sse.wire.endings import EndReason, Then

from .exceptions import ClientError, EventTooLarge, NotAnEventStream, ReconnectFailed, StreamRefused

__all__ = [
    "ERROR_BODY_LIMIT",
    "MAX_EVENT_SIZE",
    "SEEN_IDS",
    "SEEN_ID_CHARS",
    "SSE_HEADERS",
    "Action",
    "ClientOptions",
    "ClientState",
    "EventDecoder",
    "Inflater",
    "Reconnect",
    "SeenIds",
    "Session",
    "StreamOptions",
    "StreamState",
    "answer",
    "event_types",
    "retry_after",
]

E = TypeVar("E", bound=BaseEvent[Any])
H = TypeVar("H")  # the HTTP client a stream reads with

MAX_EVENT_SIZE = 1024 * 1024
ERROR_BODY_LIMIT = 64 * 1024
# How many ids (and characters of them) a stream remembers to drop replayed events: far more than
# a server replays after a reconnect, and bounded whatever ids it sends.
SEEN_IDS = 10_000
SEEN_ID_CHARS = 1024 * 1024
# Only the codings `Inflater` reads (an httpx with brotli installed would offer `br` too).
SSE_HEADERS = {
    "Accept": "text/event-stream",
    "Cache-Control": "no-cache",
    "Accept-Encoding": "gzip, deflate",
}

# A terminal event by name: its reason says whether to reconnect (`echo.sse.wire.endings`).
_ENDS: dict[str, EndReason] = {
    reason.event.event_name: reason for reason in EndReason if reason.event is not None
}
_CONTROL: dict[str, type[BaseEvent[Any]]] = {
    **{name: reason.event for name, reason in _ENDS.items() if reason.event is not None},
    **{cls.event_name: cls for cls in (StreamOpen, StreamReset)},
}


@dataclass(frozen=True)
class Reconnect:
    """How to come back. The delay before attempt n (n failures in a row, 0 after an event
    arrived) is `retry * multiplier**n`, at most `max_delay`, times a random factor in
    `[1 - jitter, 1]`, and never less than `min_delay`; `retry` is the server's `retry:` hint,
    else `delay`. `max_attempts`: give up (`ReconnectFailed`) after that many failures in a row (a
    connection that delivered no event is one); None never gives up."""

    delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.5
    max_attempts: int | None = None
    min_delay: float = 0.1

    def __post_init__(self) -> None:
        usable = (
            self.delay >= 0
            and self.min_delay >= 0
            and self.multiplier >= 1
            and 0 <= self.jitter <= 1
            and (self.max_attempts is None or self.max_attempts >= 1)
        )
        if not usable:
            raise ValueError(f"not a usable reconnection policy: {self!r}")

    def wait(self, failures: int, retry_ms: int | None, retry_after: float | None = None) -> float:
        """Seconds before the next connection after `failures` in a row, given the server's
        `retry:` (milliseconds) and `Retry-After` (seconds) if it sent them."""
        base = self.delay if retry_ms is None else retry_ms / 1000
        try:
            grown = base * float(self.multiplier) ** max(0, failures - 1)
        except OverflowError:  # a thousand failures in a row: long past any max_delay
            grown = self.max_delay if base else 0.0
        wait = min(self.max_delay, grown) * random.uniform(1 - self.jitter, 1)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return max(wait, self.min_delay)


class Action(enum.Enum):
    YIELD = enum.auto()  # hand the event to the caller; of a connection: read its events
    SKIP = enum.auto()  # nothing for the caller; of an answer: a refusal (read its body, raise)
    RECONNECT = enum.auto()  # this connection is done: come back
    STOP = enum.auto()  # the stream is over for good


def event_types(events: StreamContract[E] | Sequence[type[E]] | type[E]) -> tuple[type[E], ...]:
    if isinstance(events, StreamContract):
        return events.events
    if isinstance(events, type):
        return (events,)
    return tuple(events)


class Inflater:
    """A body's `Content-Encoding` undone at most `piece` bytes at a time."""

    def __init__(self, coding: str, piece: int = 65536) -> None:
        coding = coding.strip().lower()
        self.piece = piece
        self._zlib: Any = None
        if coding in ("gzip", "x-gzip", "deflate"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or a zlib header
        elif coding not in ("", "identity"):
            raise ClientError(f"a body in Content-Encoding {coding!r}, which the client does not read")

    def pieces(self, raw: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            yield raw
            return
        while raw:
            try:
                piece = self._zlib.decompress(raw, self.piece)
            except zlib.error as exc:
                raise ClientError(f"a compressed body that does not inflate: {exc}") from exc
            raw = self._zlib.unconsumed_tail
            if piece:
                yield piece


_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"
# `retry:` values longer than this are past any delay anyone means (and `max_delay` caps them): not
# parsed, so that a line of a million digits costs nothing.
_RETRY_DIGITS = 12


class EventDecoder:
    """The event-stream format (WHATWG HTML, "Parsing an event stream") read from bytes as they
    arrive, one connection's worth. What it holds is bounded by `limit`: an unended line, or the
    field lines of one event (comments aside), past `limit` bytes raise `EventTooLarge` at once.
    An event is dispatched as httpx-sse's decoder does (a blank line after any field, the id kept
    across events), so that `Session.receive` sees the same fields either way."""

    def __init__(self, limit: int = MAX_EVENT_SIZE) -> None:
        self.limit = limit
        self._partial = bytearray()  # the line not ended yet
        self._after_cr = False  # the last chunk ended in CR: a LF opening the next belongs to it
        self._first = True
        self._size = 0  # bytes of the current event's field lines
        self._name = b""
        self._data: list[bytes] = []
        self._id = ""
        self._own_id = False  # the current event has an `id:` line of its own
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> Iterator[ServerSentEvent]:
        """The events `chunk` completes, one at a time: what comes before a line that is too long
        is still handed over before the error."""
        if not chunk:
            return
        start = 1 if self._after_cr and chunk.startswith(b"\n") else 0
        self._after_cr = chunk.endswith(b"\r")
        for end in _LINE_END.finditer(chunk, start):
            line = chunk[start : end.start()]
            if self._partial:
                line = bytes(self._partial) + line
                self._partial.clear()
            start = end.end()
            event = self._line(line)
            if event is not None:
                yield event
        if len(self._partial) + len(chunk) - start > self.limit:
            raise EventTooLarge(self.limit)
        self._partial += chunk[start:]

    def _line(self, line: bytes) -> ServerSentEvent | None:
        if self._first:
            self._first = False
            line = line.removeprefix(_BOM)
        if len(line) > self.limit:
            raise EventTooLarge(self.limit)
        if not line:
            return self._dispatch()
        if line.startswith(b":"):
            return None
        self._size += len(line) + 1
        if self._size > self.limit:
            raise EventTooLarge(self.limit)
        name, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._name = value
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
                self._own_id = True
        elif name == b"retry" and value.isdigit():
            self._retry = int(value) if len(value) <= _RETRY_DIGITS else 10**_RETRY_DIGITS
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        self._size = 0
        if not (self._name or self._data or self._id or self._retry is not None):
            return None
        event = DecodedEvent(
            event=self._name.decode("utf-8", "replace"),
            data=b"\n".join(self._data).decode("utf-8", "replace"),
            id=self._id,
            retry=self._retry,
        )
        event.own_id = self._own_id
        self._name, self._data, self._retry, self._own_id = b"", [], None, False
        return event


class DecodedEvent(ServerSentEvent):
    """An event as read, and whether its id came on a line of its own (the spec carries the last
    id over to events that have none)."""

    own_id = False


class SeenIds:
    """The (name, id) of events yielded so far, the oldest forgotten past `count` of them or
    `chars` characters."""

    def __init__(self, count: int = SEEN_IDS, chars: int = SEEN_ID_CHARS) -> None:
        self.count = count
        self.chars = chars
        self._order: deque[tuple[str, str]] = deque()
        self._seen: set[tuple[str, str]] = set()
        self._size = 0

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._seen

    def add(self, key: tuple[str, str]) -> None:
        if key in self._seen:
            return
        self._order.append(key)
        self._seen.add(key)
        self._size += len(key[0]) + len(key[1])
        while self._order and (len(self._order) > self.count or self._size > self.chars):
            old = self._order.popleft()
            self._seen.discard(old)
            self._size -= len(old[0]) + len(old[1])


@dataclass
class _Connection:
    """What one connection has shown so far."""

    decoder: EventDecoder
    inflater: Inflater = field(default_factory=lambda: Inflater(""))
    action: Action = Action.YIELD
    status: int = 0
    delivered: bool = False  # an event arrived: not a failed attempt
    failed: bool = False
    retry_after: float | None = None
    body: bytearray = field(default_factory=bytearray)  # of a refusal, up to ERROR_BODY_LIMIT
    body_full: bool = False

    def open(self, status: int, headers: Mapping[str, str]) -> Action:
        self.status = status
        self.action = answer(status, headers.get("content-type", ""))
        if self.action is Action.RECONNECT:
            self.retry_after = retry_after(headers.get("retry-after"))
            return self.action
        if self.action is Action.YIELD:
            content_type = headers.get("content-type", "")
            if not content_type.startswith("text/event-stream"):
                raise NotAnEventStream(status, content_type)
        self.inflater = Inflater(headers.get("content-encoding", ""))
        return self.action

    def collect(self, chunk: bytes) -> bool:
        """Keep a raw chunk of a refusal's body; True once `ERROR_BODY_LIMIT` bytes are kept."""
        for piece in self.inflater.pieces(chunk):
            self.body += piece[: ERROR_BODY_LIMIT - len(self.body)]
            if len(self.body) >= ERROR_BODY_LIMIT:
                self.body_full = True
                break
        return self.body_full

    def refusal(self) -> StreamRefused:
        return StreamRefused(self.status, error_body(self.body.decode("utf-8", "replace")))


class Session(Generic[E]):
    """One logical stream across its connections: its position, its delay, its failures. Every
    decision is here and the drivers (`echo.client.sync`, `.aio`) only do the I/O: while not
    `stopped`, open a connection with the headers `connect` gives, tell `opened` its answer, hand
    `feed` each raw chunk of the body while `reading`, call `finish` (which raises a refusal),
    tell `failed` a network error, and unless `stopped` sleep for `reconnect_after()`."""

    def __init__(
        self,
        events: tuple[type[E], ...],
        last_event_id: str,
        policy: Reconnect,
        max_event_size: int = MAX_EVENT_SIZE,
    ) -> None:
        self.by_name: dict[str, type[E]] = {}
        for cls in events:
            if self.by_name.setdefault(cls.event_name, cls) is not cls:
                raise TypeError(f"two event types are named {cls.event_name!r}")
        if max_event_size < 1:
            raise ValueError(f"max_event_size must be positive, not {max_event_size}")
        self.policy = policy
        self.max_event_size = max_event_size
        self.last_event_id = last_event_id
        self.retry_ms: int | None = None
        self.failures = 0
        self.cause: BaseException | str = "no connection yet"  # of the last failure
        self.ended_by: BaseEvent[Any] | None = None  # the `terminated` or `completed` that ended it
        self.seen = SeenIds()
        self.replayed = 0  # events dropped as already yielded
        self.gaps = 0  # `stream-reset` events seen
        self.connections = 0
        self._now = _Connection(EventDecoder(max_event_size))  # the connection being read

    @property
    def action(self) -> Action:
        """Of the connection being read (YIELD, SKIP: a refusal, RECONNECT or STOP: over)."""
        return self._now.action

    @property
    def stopped(self) -> bool:
        return self._now.action is Action.STOP

    @property
    def reading(self) -> bool:
        """Is (more of) the answer's body wanted?"""
        now = self._now
        return now.action is Action.YIELD or (now.action is Action.SKIP and not now.body_full)

    # The life of a connection.

    def connect(self, headers: Mapping[str, str]) -> dict[str, str]:
        """A new connection starts: the request headers to send with it."""
        self.connections += 1
        self._now = _Connection(EventDecoder(self.max_event_size))
        sent = {**SSE_HEADERS, **headers}
        if self.last_event_id:
            sent["Last-Event-ID"] = self.last_event_id
        return sent

    def opened(self, status: int, headers: Mapping[str, str]) -> Action:
        """What the answer's head says (`answer`); raises `NotAnEventStream` for a 2xx of another
        type. On SKIP the body is a refusal's: `feed` keeps it, `finish` raises it."""
        action = self._now.open(status, headers)
        if action is Action.RECONNECT:
            self.failed(f"the server answered {status}")
        return action

    def feed(self, chunk: bytes) -> Iterator[E | UnknownEvent]:
        """A raw chunk of the body: its events (`read`), or a refusal's, kept."""
        if self._now.action is Action.SKIP:
            self._now.collect(chunk)
            return iter(())
        return self.read(chunk)

    def finish(self) -> None:
        """The body is read as far as it is wanted: raises the refusal the answer was."""
        if self._now.action is Action.SKIP:
            raise self._now.refusal()

    def read(self, chunk: bytes) -> Iterator[E | UnknownEvent]:
        """The caller's events in one raw chunk of the body (as sent: `Inflater` undoes its
        `Content-Encoding`), one at a time, so that `last_event_id` is the last one handed over.
        Stops early when an event ends the connection (`action`)."""
        for piece in self._now.inflater.pieces(chunk):
            for sse in self._now.decoder.feed(piece):
                own_id = isinstance(sse, DecodedEvent) and sse.own_id
                action, item = self.receive(sse.event, sse.data, sse.id, sse.retry, own_id=own_id)
                if item is not None and action is not Action.SKIP:
                    yield item
                if action in (Action.STOP, Action.RECONNECT):
                    self._now.action = action
                    return

    def reconnect_after(self) -> float:
        """The connection is over and the stream goes on: the seconds to wait before the next one.
        A connection that delivered no event is a failed attempt; past `max_attempts` failures in
        a row raises `ReconnectFailed`."""
        if not (self._now.delivered or self._now.failed):
            self.failed("the server sent no event")
        if self.give_up():
            error = ReconnectFailed(self.failures, self.cause)
            if isinstance(self.cause, BaseException):
                raise error from self.cause
            raise error
        return self.delay(self._now.retry_after)

    # What each part means.

    def receive(
        self, name: str, data: str, event_id: str, retry: int | None, *, own_id: bool = True
    ) -> tuple[Action, Any]:
        """What to do with one event read from the wire; `own_id`: its id came on its own `id:`
        line (else it is the one the last event set)."""
        if retry is not None and retry >= 0:
            self.retry_ms = retry
        key = (name, event_id) if own_id and event_id and name not in _CONTROL else None
        if key is not None and key in self.seen:
            # Read already: the position stays where it was (further on, most likely).
            self.replayed += 1
            return Action.SKIP, None
        self.last_event_id = event_id
        if name == "message" and data == "" and name not in self.by_name:
            return Action.SKIP, None  # a block with only `retry:` or `id:`
        end = _ENDS.get(name)
        if end is not None and end.then is Then.BACK_OFF:
            self.failed(f"the server sent an {name} event")
        else:
            self.failures = 0
            self._now.delivered = True
        mine = self.by_name.get(name)
        control = _CONTROL.get(name)
        if control is None:
            item = UnknownEvent(name, data, event_id or None) if mine is None else mine.from_data(data)
            if key is not None:
                self.seen.add(key)
            return Action.YIELD, item
        event: BaseEvent[Any] = (mine or control).from_data(data)
        after = self._control(control, end)
        if mine is not None and after is Action.SKIP:
            return Action.YIELD, event
        if after is Action.STOP:
            self.ended_by = event
        return after, event if mine is not None else None

    def _control(self, control: type[BaseEvent[Any]], end: EndReason | None) -> Action:
        if end is not None:
            return Action.STOP if end.then is Then.STOP else Action.RECONNECT
        if control is StreamReset:
            self.gaps += 1
        return Action.SKIP

    def failed(self, cause: BaseException | str = "failed") -> None:
        self.failures += 1
        self.cause = cause
        self._now.failed = True

    def delay(self, retry_after: float | None = None) -> float:
        """Seconds to wait before the next connection."""
        return self.policy.wait(self.failures, self.retry_ms, retry_after)

    def give_up(self) -> bool:
        return self.policy.max_attempts is not None and self.failures >= self.policy.max_attempts


_SECONDS = re.compile(r"[0-9]+")


def retry_after(value: str | None) -> float | None:
    """A `Retry-After` as seconds from now (delay-seconds or an HTTP-date, a past date is 0); None
    for anything else. Not bounded here: `Session.delay` caps it at `max_delay`."""
    if value is None:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        return float(value)  # inf for hundreds of digits, which the cap takes as well as any
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


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


def error_body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class StreamState(Generic[E, H]):
    """What both clients' streams hold (their HTTP client `H`, the request) and show of their
    `Session`: where the stream is, what ended it, the gaps it was told of, the events it dropped
    as read already, the connections it opened."""

    def __init__(
        self,
        http: H,
        url: str,
        session: Session[E],
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> None:
        self._http = http
        self._url = url
        self._session = session
        self._params = params
        self._headers = dict(headers or {})

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
    def replayed(self) -> int:
        return self._session.replayed

    @property
    def connections(self) -> int:
        return self._session.connections


class ClientOptions(TypedDict, total=False):
    """What a client applies to every stream it opens (`Client(base_url, **options)`)."""

    reconnect: Reconnect | None
    headers: Mapping[str, str] | None
    max_event_size: int


class StreamOptions(TypedDict, total=False):
    """A stream's own (`client.stream(url, events, **options)`), over its client's."""

    params: Mapping[str, str] | None
    headers: Mapping[str, str] | None
    last_event_id: str  # resume after it
    reconnect: Reconnect | None
    max_event_size: int | None


def _known(options: Mapping[str, Any], allowed: type[Any]) -> None:
    unknown = sorted(options.keys() - allowed.__optional_keys__)
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")


class ClientState(Generic[H]):
    """What both clients hold: their HTTP client `H` (closed with them when they made it) and the
    options every stream starts from."""

    def __init__(self, http: H, own: bool, options: ClientOptions) -> None:
        _known(options, ClientOptions)
        self._own = own
        self.http = http
        self.reconnect = options.get("reconnect") or Reconnect()
        self.headers = dict(options.get("headers") or {})
        self.max_event_size = options.get("max_event_size", MAX_EVENT_SIZE)

    def _request(
        self, events: StreamContract[E] | Sequence[type[E]] | type[E], options: StreamOptions
    ) -> tuple[Session[E], Mapping[str, str] | None, dict[str, str]]:
        """A stream's session, query parameters and headers."""
        _known(options, StreamOptions)
        size = options.get("max_event_size")
        policy = options.get("reconnect") or self.reconnect
        session = Session(
            event_types(events),
            options.get("last_event_id", ""),
            policy,
            self.max_event_size if size is None else size,
        )
        return session, options.get("params"), {**self.headers, **(options.get("headers") or {})}
