"""The asyncio client: `AsyncClient(base_url).stream(url, events)` is an async iterator of typed
events. The same behaviour as `echo.client.sync` (see `echo.client.policy`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from echo.sse import BaseEvent
from echo.sse.glue.contract import StreamContract, UnknownEvent

from .policy import ClientOptions, ClientState, StreamOptions, StreamState
from .sync import DEFAULT_TIMEOUT

__all__ = ["AsyncClient", "AsyncEventStream"]

E = TypeVar("E", bound=BaseEvent[Any])


class AsyncEventStream(StreamState[E, httpx.AsyncClient]):
    """`EventStream`'s asyncio twin: `async for event in stream`, `await stream.aclose()`."""

    _events: AsyncGenerator[E | UnknownEvent] | None = None

    def __aiter__(self) -> AsyncGenerator[E | UnknownEvent]:
        if self._events is None:
            self._events = self._run()
        return self._events

    async def __anext__(self) -> E | UnknownEvent:
        return await anext(aiter(self))

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()

    async def __aenter__(self) -> AsyncEventStream[E]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[E | UnknownEvent]:
        session = self._session
        while not session.stopped:
            try:
                # Closed here, not left to the collector, when the caller stops reading.
                async with contextlib.aclosing(self._connection(session.connect(self._headers))) as items:
                    async for item in items:
                        yield item
            except httpx.TransportError as exc:
                session.failed(exc)
            if not session.stopped:
                await asyncio.sleep(session.reconnect_after())

    async def _connection(self, headers: dict[str, str]) -> AsyncGenerator[E | UnknownEvent]:
        session = self._session
        request = self._http.stream("GET", self._url, params=self._params, headers=headers)
        async with request as response:
            session.opened(response.status_code, response.headers)
            chunks = response.aiter_raw()
            while session.reading and (chunk := await anext(chunks, None)) is not None:
                for item in session.feed(chunk):
                    yield item
            session.finish()


class AsyncClient(ClientState[httpx.AsyncClient]):
    """`Client`'s asyncio twin, on an `httpx.AsyncClient`."""

    def __init__(
        self, base_url: str = "", *, http: httpx.AsyncClient | None = None, **options: Unpack[ClientOptions]
    ) -> None:
        if http is None:
            super().__init__(httpx.AsyncClient(base_url=base_url, timeout=DEFAULT_TIMEOUT), True, options)
        else:
            super().__init__(http, False, options)

    def stream(
        self,
        url: str,
        events: StreamContract[E] | Sequence[type[E]] | type[E],
        **options: Unpack[StreamOptions],
    ) -> AsyncEventStream[E]:
        return AsyncEventStream(self.http, url, *self._request(events, options))

    async def aclose(self) -> None:
        if self._own:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
