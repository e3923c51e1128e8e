"""The blocking client: `Client(base_url).stream(url, events)` is an iterator of typed events."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from echo.sse import BaseEvent
from echo.sse.contract import StreamContract, UnknownEvent

from .policy import MAX_EVENT_SIZE, Action, Reconnect, Session, StreamState, event_types

__all__ = ["Client", "EventStream"]

E = TypeVar("E", bound=BaseEvent[Any])

DEFAULT_TIMEOUT = httpx.Timeout(10.0, read=60.0)


class EventStream(StreamState[E]):
    """One stream, read across as many connections as it takes. Iterate it for `E | UnknownEvent`;
    `last_event_id` is where it is, `ended_by` the `terminated` event that ended it (if one did),
    `gaps` how many `stream-reset` events said events may be missing, `connections` how many
    connections it opened."""

    def __init__(
        self,
        http: httpx.Client,
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
        self._events: Iterator[E | UnknownEvent] | None = None

    def __iter__(self) -> Iterator[E | UnknownEvent]:
        if self._events is None:
            self._events = self._run()
        return self._events

    def __next__(self) -> E | UnknownEvent:
        return next(iter(self))

    def close(self) -> None:
        """Close the open connection (also done by leaving a `with` block or dropping the loop)."""
        if self._events is not None:
            self._events.close()  # type: ignore[attr-defined]

    def __enter__(self) -> EventStream[E]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> Iterator[E | UnknownEvent]:
        session = self._session
        while True:
            headers = session.connect(self._headers)
            try:
                with self._http.stream("GET", self._url, params=self._params, headers=headers) as response:
                    action = session.opened(response.status_code, response.headers)
                    if action is Action.SKIP:
                        for chunk in response.iter_raw():
                            if session.collect(chunk):
                                break
                        raise session.refused(response.status_code)
                    if action is Action.YIELD:
                        for chunk in response.iter_raw():
                            yield from session.read(chunk)
                            if session.action is not Action.YIELD:
                                break
                    if session.action is Action.STOP:
                        return
            except httpx.TransportError as exc:
                session.failed(exc)
            time.sleep(session.reconnect_after())


class Client:
    """A client of one server. `http` is an `httpx.Client` to use (its base URL, auth, cookies,
    timeouts); otherwise one is made from `base_url` and closed with this client. An event or a
    line longer than `max_event_size` bytes raises `EventTooLarge`."""

    def __init__(
        self,
        base_url: str = "",
        *,
        http: httpx.Client | None = None,
        reconnect: Reconnect | None = None,
        headers: Mapping[str, str] | None = None,
        max_event_size: int = MAX_EVENT_SIZE,
    ) -> None:
        self._own = http is None
        self.http = http if http is not None else httpx.Client(base_url=base_url, timeout=DEFAULT_TIMEOUT)
        self.reconnect = reconnect or Reconnect()
        self.headers = dict(headers or {})
        self.max_event_size = max_event_size

    def stream(
        self,
        url: str,
        events: StreamContract[E] | Sequence[type[E]] | type[E],
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        last_event_id: str = "",
        reconnect: Reconnect | None = None,
        max_event_size: int | None = None,
    ) -> EventStream[E]:
        """Read `url` as a stream of `events` (a contract, or event classes: a control event class
        listed here is yielded too), resuming after `last_event_id` when given."""
        size = self.max_event_size if max_event_size is None else max_event_size
        session = Session(event_types(events), last_event_id, reconnect or self.reconnect, size)
        return EventStream(self.http, url, session, params, {**self.headers, **(headers or {})})

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
