"""The one load client: raw asyncio protocols, so that 20,000 streams fit on one core.

HTTP/1.1 framing (head, chunked body) is httptools' C parser; events are read by the project's
own `echo.sse.wire.decode.EventDecoder`, the parser the tests use. Throughput only counts the
blank lines that end events (`decode=False`): a full parse per event would make the client the
bottleneck above ~200k events/s. Connections leave from 127.0.0.2-201 in turn, so that 20,000
streams and churn's TIME_WAIT sockets never exhaust one source address's ephemeral ports.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import resource
import time
from collections.abc import Callable
from urllib.parse import urlencode

import httptools

from echo.sse.wire.decode import EventDecoder
from echo.sse.wire.encode import ServerSentEvent

HOST = "127.0.0.1"
SOURCES = tuple(f"127.0.0.{n}" for n in range(2, 202))  # 100 streams each at 20,000
OnEvent = Callable[["Stream", ServerSentEvent, float], None]


def Sources() -> Callable[[], str]:
    return functools.partial(next, itertools.cycle(SOURCES))


def raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:  # root may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(wanted, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def target(path: str, **params: object) -> str:
    return f"{path}?{urlencode(params)}" if params else path


class Stream(asyncio.Protocol):
    """One GET of an event stream. `head` resolves on a 200 `text/event-stream` head (fails
    otherwise), `ended` when the body or the connection ends; `on_event` sees each event."""

    def __init__(self, request: bytes, *, decode: bool, on_event: OnEvent | None) -> None:
        loop = asyncio.get_running_loop()
        self.request, self.on_event = request, on_event
        self.decoder = EventDecoder() if decode else None
        self.head: asyncio.Future[None] = loop.create_future()
        self.ended: asyncio.Future[None] = loop.create_future()
        self.first: asyncio.Future[None] = loop.create_future()  # the first event arrived
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.sent_at = self.first_at = 0.0
        self.status, self.events, self.bytes = 0, 0, 0
        self.complete = False  # the server ended the body (not a broken connection)
        self._content_type = b""
        self._header = b""
        self._tail = b""

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self._content_type = value

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status == 200 and self._content_type.startswith(b"text/event-stream"):
            _settle(self.head, None)
        else:
            _settle(self.head, RuntimeError(f"status {self.status} {self._content_type!r}"))

    def on_body(self, body: bytes) -> None:
        now = time.perf_counter()
        self.bytes += len(body)
        if self.decoder is not None:
            for event in self.decoder.feed(body):
                self._count(event, now)
            return
        # Counting: the project ends lines with LF, sse-starlette with CRLF; both contain "\n\n"
        # or "\n\r\n" once per event. Carry the last two bytes over to catch a split separator.
        text = self._tail + body
        found = text.count(b"\n\n") + text.count(b"\n\r\n")
        self._tail = text[-2:]
        if found and not self.events:
            self.first_at = now
            _settle(self.first, None)
        self.events += found

    def _count(self, event: ServerSentEvent, now: float) -> None:
        if not self.events:
            self.first_at = now
            _settle(self.first, None)
        self.events += 1
        if self.on_event is not None:
            self.on_event(self, event, now)

    def on_message_complete(self) -> None:
        self.complete = True
        self.close()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)
        self.sent_at = time.perf_counter()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            _settle(self.head, exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        closed = exc or ConnectionError("closed before the response head")
        _settle(self.head, closed)
        _settle(self.first, closed)
        _settle(self.ended, None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _settle(future: asyncio.Future[None], result: BaseException | None) -> None:
    if future.done():
        return
    if result is None:
        future.set_result(None)
    else:
        future.set_exception(result)
        future.exception()  # nobody may await it: mark the error retrieved


async def connect(
    port: int,
    path: str,
    *,
    source: str | None = None,
    decode: bool = True,
    on_event: OnEvent | None = None,
) -> Stream:
    """Open a connection (from `source`) and send the GET; the head comes later."""
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
    _, stream = await asyncio.get_running_loop().create_connection(
        lambda: Stream(request, decode=decode, on_event=on_event),
        HOST,
        port,
        local_addr=(source, 0) if source else None,
    )
    return stream


async def open_many(
    port: int, paths: list[str], *, deadline: float, concurrency: int = 200, **options: object
) -> list[Stream]:
    """Open every path's stream, `concurrency` at a time, each up to its 200 head; by `deadline`
    (loop time). Raises on the first stream that fails."""
    sources, gate = Sources(), asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()

    async def one(path: str) -> Stream:
        async with gate:
            stream = await connect(port, path, source=sources(), **options)  # type: ignore[arg-type]
            async with asyncio.timeout(max(0.1, deadline - loop.time())):
                await stream.head
            return stream

    return list(await asyncio.gather(*(one(path) for path in paths)))


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
