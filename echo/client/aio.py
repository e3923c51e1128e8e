"""The asyncio client: `AsyncClient(base_url).stream(url, events)` is an async iterator of typed
events. The same behaviour as `echo.client.sync` (see `echo.client.policy`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx
from httpx_sse import aconnect_sse

from echo.sse import BaseEvent
from echo.sse.contract import StreamContract, UnknownEvent

from .exceptions import NotAnEventStream, ReconnectFailed, StreamRefused
from .policy import Action, Reconnect, Session, StreamState, answer, error_body, event_types, retry_after
from .sync import DEFAULT_TIMEOUT, SSE_HEADERS

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
            headers = {**SSE_HEADERS, **self._headers}
            if session.last_event_id:
                headers["Last-Event-ID"] = session.last_event_id
            wait_at_least: float | None = None
            try:
                session.connections += 1
                async with aconnect_sse(
                    self._http, "GET", self._url, params=self._params, headers=headers
                ) as source:
                    response = source.response
                    verdict = answer(response.status_code, response.headers.get("content-type", ""))
                    if verdict is Action.STOP:
                        return
                    if verdict is Action.SKIP:
                        body = (await response.aread()).decode()
                        raise StreamRefused(response.status_code, error_body(response.status_code, body))
                    if verdict is Action.RECONNECT:
                        session.failed()
                        wait_at_least = retry_after(response.headers.get("retry-after"))
                    else:
                        content_type = response.headers.get("content-type", "")
                        if not content_type.startswith("text/event-stream"):
                            raise NotAnEventStream(response.status_code, content_type)
                        async for sse in source.aiter_sse():
                            action, item = session.receive(sse.event, sse.data, sse.id, sse.retry)
                            if item is not None and action is not Action.SKIP:
                                yield item
                            if action is Action.STOP:
                                return
                            if action is Action.RECONNECT:
                                break
            except httpx.TransportError as exc:
                session.failed()
                if session.give_up():
                    raise ReconnectFailed(session.failures, exc) from exc
            if session.give_up():
                raise ReconnectFailed(session.failures, "the server kept refusing or failing")
            await asyncio.sleep(session.delay(wait_at_least))


class AsyncClient:
    """`Client`'s asyncio twin, on an `httpx.AsyncClient`."""

    def __init__(
        self,
        base_url: str = "",
        *,
        http: httpx.AsyncClient | None = None,
        reconnect: Reconnect | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._own = http is None
        self.http = (
            http if http is not None else httpx.AsyncClient(base_url=base_url, timeout=DEFAULT_TIMEOUT)
        )
        self.reconnect = reconnect or Reconnect()
        self.headers = dict(headers or {})

    def stream(
        self,
        url: str,
        events: StreamContract[E] | Sequence[type[E]] | type[E],
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        last_event_id: str = "",
        reconnect: Reconnect | None = None,
    ) -> AsyncEventStream[E]:
        session = Session(event_types(events), last_event_id, reconnect or self.reconnect)
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
