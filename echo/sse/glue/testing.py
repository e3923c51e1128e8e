"""Reading a stream view in a test, in-process, through the ASGI application: no server, no hang.

Django's test client reads a streaming response to its end, which an event stream never reaches.
`open_stream` instead runs the request through echo's ASGI handler in a task, as a server would,
and reads events as they come::

    async with open_stream("/sse2", query={"message": "hi", "interval": "0"}) as stream:
        first = await stream.read(3, timeout=5)          # ServerSentEvents, ids as text
        typed = await stream.read_typed(2)                # Echo instances (the view's contract)
    # leaving the block is the client going away: the stream's `finally` has run by then

    async with stream.reconnect() as again:               # Last-Event-ID: the last id read
        ...

`read_events(path, count)` does the same from a sync test. A view that reads the database runs in
the handler's own threads: use `@pytest.mark.django_db(transaction=True)` so they see the test's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from django.urls import Resolver404, resolve

from ..runtime.registry import registry
from ..wire.decode import EventDecoder
from ..wire.encode import ServerSentEvent
from ..wire.typed_events import BaseEvent
from .contract import StreamContract, UnknownEvent, contract_of

__all__ = ["EventStreamReader", "open_stream", "read_events"]

Application = Callable[..., Any]

_BUFFERED = 1000


class EventStreamReader:
    """One request's response, read as it is sent: `status`, `headers`, then events."""

    def __init__(self, path: str, headers: dict[str, str], contract: StreamContract[Any] | None) -> None:
        self.path = path
        self.request_headers = headers
        self.contract = contract
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""  # the whole body of a response that is not an event stream (a JSON error)
        self.ended = False
        self._decoder = EventDecoder()
        self._events: list[ServerSentEvent] = []
        self._last_id = ""
        self._changed = asyncio.Event()
        self._drained = asyncio.Event()
        self._disconnect = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def last_event_id(self) -> str:
        """What a client that has read the events read so far would send as `Last-Event-ID`."""
        return self._last_id

    @property
    def retry(self) -> int | None:
        """The reconnection time (ms) the stream set last."""
        return self._decoder.retry

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    async def read(self, count: int = 1, *, timeout: float = 5.0) -> list[ServerSentEvent]:
        """The next `count` events, fewer if the response ends first; `TimeoutError` if they do
        not come within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while len(self._events) < count and not self.ended:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{self.path}: {len(self._events)} of {count} events within {timeout} s"
            ) from None
        taken, self._events = self._events[:count], self._events[count:]
        if taken:
            self._last_id = str(taken[-1].id or "")
        self._drained.set()
        return taken

    async def read_typed(
        self, count: int = 1, *, timeout: float = 5.0
    ) -> list[BaseEvent[Any] | UnknownEvent]:
        """The next `count` events as instances of the view's declared event types."""
        if self.contract is None:
            raise LookupError(f"{self.path} is not a view with declared events (@declare)")
        return [self.contract.parse(event) for event in await self.read(count, timeout=timeout)]

    async def disconnect(self, *, timeout: float = 5.0) -> None:
        """The client goes away; returns once the application has finished the request."""
        self._disconnect.set()
        self._drained.set()
        if self._task is not None:
            async with asyncio.timeout(timeout):
                await self._task

    def reconnect(self, **options: Any) -> contextlib.AbstractAsyncContextManager[EventStreamReader]:
        """Open the same stream again with `Last-Event-ID` set to the last id read."""
        headers = {**self.request_headers, "Last-Event-ID": self.last_event_id}
        return open_stream(self.path, headers=headers, **options)

    # -- the ASGI side ---------------------------------------------------------------------------

    async def _receive(self, sent: list[bool]) -> dict[str, Any]:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._disconnect.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Mapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            stream = self.headers.get("content-type", "").startswith("text/event-stream")
            if stream:
                self._events.extend(self._decoder.feed(chunk))
            else:
                self.body += chunk
            if not message.get("more_body", False):
                if stream:
                    self._events.extend(self._decoder.close())
                self.ended = True
            self._changed.set()
            # As a socket's buffer would: the stream waits while this many events are unread.
            while len(self._events) >= _BUFFERED and not self._disconnect.is_set():
                self._drained.clear()
                await self._drained.wait()

    async def _started(self, timeout: float) -> None:
        """Wait for the response's start; raise what the application raised if it sent none."""
        async with asyncio.timeout(timeout):
            while self.status == 0 and not self.ended:
                self._changed.clear()
                await self._changed.wait()
        if self.status == 0:
            assert self._task is not None
            await self._task  # it ended without a response: its exception, if it raised one
            raise RuntimeError(f"{self.path}: the application sent no response")

    async def _run(self, application: Application, scope: dict[str, Any]) -> None:
        sent = [False]
        try:
            await application(scope, lambda: self._receive(sent), self._send)
        finally:
            self.ended = True
            self._changed.set()


@contextlib.asynccontextmanager
async def open_stream(
    path: str,
    *,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    application: Application | None = None,
    timeout: float = 5.0,
) -> AsyncIterator[EventStreamReader]:
    """Send `method path?query` through `application` (echo's ASGI handler by default) and read
    the response until the block ends, when the client disconnects. `timeout` bounds the wait for
    the response's headers and, on leaving, for the application to finish."""
    if application is None:
        from .asgi import ASGIHandler

        application = ASGIHandler()
    bare, _, given_query = path.partition("?")
    query_string = "&".join(part for part in (given_query, urlencode(query or {})) if part)
    sent_headers = dict(headers or {})
    try:
        contract = contract_of(resolve(bare).func)
    except Resolver404:
        contract = None
    reader = EventStreamReader(bare + (f"?{query_string}" if query_string else ""), sent_headers, contract)
    scope = _scope(method, bare, query_string, sent_headers)
    reader._task = asyncio.get_running_loop().create_task(reader._run(application, scope))
    try:
        await reader._started(timeout)
        yield reader
    finally:
        await reader.disconnect(timeout=timeout)
        # What observers (the session recorder) keep to write later is written now, so the test
        # sees it and nothing is left to write once the test's database access ends.
        for observer in registry.observers():
            await asyncio.to_thread(observer.flush, timeout)


def _scope(method: str, path: str, query_string: str, headers: Mapping[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }


def read_events(path: str, count: int, *, timeout: float = 5.0, **options: Any) -> list[ServerSentEvent]:
    """From sync code: open `path`, read `count` events (fewer if it ends), disconnect."""

    async def read() -> list[ServerSentEvent]:
        async with open_stream(path, timeout=timeout, **options) as stream:
            return await stream.read(count, timeout=timeout)

    return async_to_sync(read)()
