"""The asyncio client: `AsyncClient(base_url).stream(url, events)` is an async iterator of typed
events. The same behaviour as `echo.client.sync` (see `echo.client.policy`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from echo.sse import BaseEvent
from echo.sse.contract import StreamContract, UnknownEvent

from .policy import MAX_EVENT_SIZE, Action, Reconnect, Session, StreamState, event_types
from .sync import DEFAULT_TIMEOUT

__all__ = ["AsyncClient", "AsyncEventStream"]

E = TypeVar("E", bound=BaseEvent[Any])


class AsyncEventStream(StreamState[E]):
    """`EventStream`'s asyncio twin: `async for event in stream`, `await stream.aclose()`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
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
        self._events: AsyncIterator[E | UnknownEvent] | None = None

    def __aiter__(self) -> AsyncIterator[E | UnknownEvent]:
        if self._events is None:
            self._events = self._run()
        return self._events

    async def __anext__(self) -> E | UnknownEvent:
        return await anext(aiter(self))

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> AsyncEventStream[E]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self) -> AsyncIterator[E | UnknownEvent]:
        session = self._session
        while True:
            headers = session.connect(self._headers)
            try:
                async with self._http.stream(
                    "GET", self._url, params=self._params, headers=headers
                ) as response:
                    action = session.opened(response.status_code, response.headers)
                    if action is Action.SKIP:
                        async for chunk in response.aiter_raw():
                            if session.collect(chunk):
                                break
                        raise session.refused(response.status_code)
                    if action is Action.YIELD:
                        async for chunk in response.aiter_raw():
                            for item in session.read(chunk):
                                yield item
                            if session.action is not Action.YIELD:
                                break
                    if session.action is Action.STOP:
                        return
            except httpx.TransportError as exc:
                session.failed(exc)
            await asyncio.sleep(session.reconnect_after())


class AsyncClient:
    """`Client`'s asyncio twin, on an `httpx.AsyncClient`."""

    def __init__(
        self,
        base_url: str = "",
        *,
        http: httpx.AsyncClient | None = None,
        reconnect: Reconnect | None = None,
        headers: Mapping[str, str] | None = None,
        max_event_size: int = MAX_EVENT_SIZE,
    ) -> None:
        self._own = http is None
        self.http = (
            http if http is not None else httpx.AsyncClient(base_url=base_url, timeout=DEFAULT_TIMEOUT)
        )
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
    ) -> AsyncEventStream[E]:
        size = self.max_event_size if max_event_size is None else max_event_size
        session = Session(event_types(events), last_event_id, reconnect or self.reconnect, size)
        return AsyncEventStream(self.http, url, session, params, {**self.headers, **(headers or {})})

    async def aclose(self) -> None:
        if self._own:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
