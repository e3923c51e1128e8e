"""The blocking client: `Client(base_url).stream(url, events)` is an iterator of typed events."""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from echo.sse import BaseEvent
from echo.sse.glue.contract import StreamContract, UnknownEvent

from .policy import ClientOptions, ClientState, StreamOptions, StreamState

__all__ = ["Client", "EventStream"]

E = TypeVar("E", bound=BaseEvent[Any])

DEFAULT_TIMEOUT = httpx.Timeout(10.0, read=60.0)


class EventStream(StreamState[E, httpx.Client]):
    """One stream, read across as many connections as it takes. Iterate it for `E | UnknownEvent`;
    it ends on `completed` (the stream sent everything), on `terminated` and on a 204.
    `last_event_id` is where it is, `ended_by` the `completed` or `terminated` event that ended it
    (if one did), `gaps` how many `stream-reset` events said events may be missing, `replayed` how
    many events it dropped as yielded already, `connections` how many connections it opened."""

    _events: Generator[E | UnknownEvent] | None = None

    def __iter__(self) -> Generator[E | UnknownEvent]:
        if self._events is None:
            self._events = self._run()
        return self._events

    def __next__(self) -> E | UnknownEvent:
        return next(iter(self))

    def close(self) -> None:
        """Close the open connection (also done by leaving a `with` block or dropping the loop)."""
        if self._events is not None:
            self._events.close()

    def __enter__(self) -> EventStream[E]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> Generator[E | UnknownEvent]:
        session = self._session
        while not session.stopped:
            try:
                yield from self._connection(session.connect(self._headers))
            except httpx.TransportError as exc:
                session.failed(exc)
            if not session.stopped:
                time.sleep(session.reconnect_after())

    def _connection(self, headers: dict[str, str]) -> Generator[E | UnknownEvent]:
        session = self._session
        with self._http.stream("GET", self._url, params=self._params, headers=headers) as response:
            session.opened(response.status_code, response.headers)
            for chunk in response.iter_raw() if session.reading else ():
                yield from session.feed(chunk)
                if not session.reading:
                    break
            session.finish()


class Client(ClientState[httpx.Client]):
    """A client of one server. `http` is an `httpx.Client` to use (its base URL, auth, cookies,
    timeouts); otherwise one is made from `base_url` and closed with this client. An event or a
    line longer than `max_event_size` bytes raises `EventTooLarge`. The options (`reconnect`,
    `headers`, `max_event_size`) are every stream's unless it says otherwise."""

    def __init__(
        self, base_url: str = "", *, http: httpx.Client | None = None, **options: Unpack[ClientOptions]
    ) -> None:
        made = http if http is not None else httpx.Client(base_url=base_url, timeout=DEFAULT_TIMEOUT)
        super().__init__(made, http is None, options)

    def stream(
        self,
        url: str,
        events: StreamContract[E] | Sequence[type[E]] | type[E],
        **options: Unpack[StreamOptions],
    ) -> EventStream[E]:
        """Read `url` as a stream of `events` (a contract, or event classes: a control event class
        listed here is yielded too), resuming after `last_event_id` when given; `params`,
        `headers`, `reconnect` and `max_event_size` as the options say (`StreamOptions`)."""
        return EventStream(self.http, url, *self._request(events, options))

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
