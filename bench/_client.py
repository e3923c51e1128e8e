"""A deliberately thin SSE client on raw asyncio streams, so that the client is never the bottleneck.

One GET per connection over HTTP/1.1; the body is de-chunked when the server sends
`Transfer-Encoding: chunked` (both servers do) and events are counted by splitting on the blank
line that ends each one. `next_event` parses a block into its fields for the few events whose
content matters (contract checks, timing); `count_to_end` only counts, for throughput.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

T = TypeVar("T")

READ_SIZE = 1 << 16


class StreamError(Exception):
    """The server answered something other than an event stream, or broke the framing."""


def raise_nofile_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (capped at the hard limit); returns the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def cpu_seconds() -> float:
    """CPU time (user + system) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Dechunker:
    """Incremental decoder of HTTP/1.1 chunked transfer coding (trailers are ignored)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._remaining = 0  # payload bytes still due in the current chunk
        self._crlf_due = False  # the CRLF that ends a chunk's payload
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buffer = self._buffer
        buffer += data
        out = bytearray()
        pos = 0
        while not self.done:
            if self._remaining:
                take = min(self._remaining, len(buffer) - pos)
                out += buffer[pos : pos + take]
                pos += take
                self._remaining -= take
                if self._remaining:
                    break
                self._crlf_due = True
            if self._crlf_due:
                if len(buffer) - pos < 2:
                    break
                if buffer[pos : pos + 2] != b"\r\n":
                    raise StreamError("chunk payload not followed by CRLF")
                pos += 2
                self._crlf_due = False
            end = buffer.find(b"\r\n", pos)
            if end < 0:
                break
            size = int(bytes(buffer[pos:end]).split(b";", 1)[0], 16)
            pos = end + 2
            if size == 0:
                self.done = True
            self._remaining = size
        del buffer[:pos]
        return bytes(out)


def parse_block(block: bytes) -> dict[str, str]:
    """The fields of one event block; repeated `data` lines are joined with LF, comments dropped."""
    fields: dict[str, str] = {}
    for line in block.decode("utf-8").splitlines():
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data" and "data" in fields:
            fields["data"] += "\n" + value
        else:
            fields[name] = value
    return fields


@dataclass
class EventStream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int
    headers: dict[str, str]
    sent_at: float
    _dechunker: _Dechunker | None = None
    _text: bytearray = field(default_factory=bytearray)
    _separator: bytes | None = None
    eof: bool = False
    reads: int = 0  # socket reads so far: few, full reads would mean the client cannot keep up

    async def _fill(self) -> None:
        data = await self.reader.read(READ_SIZE)
        self.reads += 1
        if not data:
            self.eof = True
            return
        if self._dechunker is not None:
            data = self._dechunker.feed(data)
            if self._dechunker.done:
                self.eof = True
        self._text += data
        if self._separator is None and b"\n" in self._text:
            # sse-starlette ends lines with CRLF, the project with LF; a stream keeps its choice.
            self._separator = b"\r\n\r\n" if b"\r\n" in self._text else b"\n\n"

    async def next_event(self) -> dict[str, str] | None:
        """The next block's fields (comment-only blocks give {}), or None at the end of the stream."""
        while True:
            if self._separator is not None:
                end = self._text.find(self._separator)
                if end >= 0:
                    block = bytes(self._text[:end])
                    del self._text[: end + len(self._separator)]
                    return parse_block(block)
            if self.eof:
                return None
            await self._fill()

    async def count_to_end(self) -> int:
        """Count the blocks left until the server ends the stream."""
        count = 0
        while not self.eof:
            await self._fill()
            if self._separator is None:
                continue
            count += self._text.count(self._separator)
            last = self._text.rfind(self._separator)
            if last >= 0:
                del self._text[: last + len(self._separator)]
        return count

    def close(self) -> None:
        self.writer.close()


@dataclass
class PendingStream:
    """A connection whose request is sent and whose response head has not been read yet."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    sent_at: float

    async def response(self) -> EventStream:
        """Read the response head; raises StreamError unless it is a 200 event stream.

        Daphne writes the head together with the first body bytes, so for the project this
        returns only when the first event (or ping) is sent.
        """
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except BaseException:
            self.writer.close()
            raise
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        stream = EventStream(self.reader, self.writer, status, headers, self.sent_at)
        if status != 200 or not headers.get("content-type", "").startswith("text/event-stream"):
            body = await self.reader.read(2000)
            stream.close()
            raise StreamError(f"{status_line!r} {headers.get('content-type')!r}: {body[:500]!r}")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            stream._dechunker = _Dechunker()
        return stream


async def send_request(host: str, port: int, path: str, params: dict[str, object]) -> PendingStream:
    """Connect and send `GET path?params` over HTTP/1.1."""
    reader, writer = await asyncio.open_connection(host, port, limit=READ_SIZE)
    request = (
        f"GET {path}?{urlencode(params)} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
    )
    writer.write(request.encode("ascii"))
    return PendingStream(reader, writer, time.perf_counter())


async def open_stream(host: str, port: int, path: str, params: dict[str, object]) -> EventStream:
    """Send the request and read the response head (see `PendingStream.response`)."""
    return await (await send_request(host, port, path, params)).response()


async def gather_bounded(
    factories: Iterable[Callable[[], Awaitable[T]]], concurrency: int
) -> list[T | BaseException]:
    """Await each factory's coroutine, at most `concurrency` at a time; results (or the exception
    each raised) in input order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(factory: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await factory()

    return list(await asyncio.gather(*(one(factory) for factory in factories), return_exceptions=True))


# -- the Protocol client, for thousands of streams in one process ------------------------------
#
# StreamReader costs a task, a buffer and a few awaits per read; with 10,000 streams that would make
# the client the bottleneck. `SSEConnection` does the same work (head, chunked decoding, splitting
# into event blocks) synchronously in `data_received`, stamps each read with one clock reading and
# hands the complete blocks to `on_blocks`, which subclasses override.

LOCAL_HOSTS = tuple(f"127.0.0.{n}" for n in range(2, 52))  # client source addresses, 50 of them


class SourceAddresses:
    """Round-robin over loopback source addresses, so that 10k connections (and the TIME_WAIT
    sockets churn leaves behind) never run out of ephemeral ports on one address."""

    def __init__(self, hosts: tuple[str, ...] = LOCAL_HOSTS) -> None:
        self._hosts = hosts
        self._next = 0

    def __call__(self) -> str:
        host = self._hosts[self._next % len(self._hosts)]
        self._next += 1
        return host


def build_request(host: str, port: int, path: str, params: dict[str, object] | None = None) -> bytes:
    target = f"{path}?{urlencode(params)}" if params else path
    return (
        f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
    ).encode("ascii")


def fail(future: asyncio.Future[Any], error: BaseException) -> None:
    """Fail `future` unless it is done; nobody may be awaiting it, so mark the error retrieved."""
    if not future.done():
        future.set_exception(error)
        future.exception()


class SSEConnection(asyncio.Protocol):
    """One GET for an event stream; `on_blocks(blocks, now)` gets every complete event block."""

    def __init__(self, request: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0.0
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head: asyncio.Future[None] = loop.create_future()  # 200 event-stream head read
        self.closed: asyncio.Future[None] = loop.create_future()  # connection lost
        self.blocks = 0  # event blocks (comments included) received
        self.reads = 0
        self.eof = False
        self._raw = bytearray()
        self._dechunker: _Dechunker | None = None
        self._text = b""
        self._separator: bytes | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)
        self.sent_at = time.perf_counter()

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.reads += 1
        if not self.head.done():
            self._raw += data
            end = self._raw.find(b"\r\n\r\n")
            if end < 0:
                return
            data = bytes(self._raw[end + 4 :])
            head = bytes(self._raw[:end]).decode("latin-1")
            self._raw.clear()
            if not self._parse_head(head, data):
                return
        if self._dechunker is not None:
            data = self._dechunker.feed(data)
            if self._dechunker.done:
                self.eof = True
        if data:
            self._split(data, now)
        if self.eof:
            self.close()  # the server ended the body: nothing more will come on this connection

    def _split(self, data: bytes, now: float) -> None:
        text = self._text + data if self._text else data
        if self._separator is None:
            if b"\n" not in text:
                self._text = text
                return
            self._separator = b"\r\n\r\n" if b"\r\n" in text else b"\n\n"
        parts = text.split(self._separator)
        self._text = parts.pop()
        if parts:
            self.blocks += len(parts)
            self.on_blocks(parts, now)

    def eof_received(self) -> bool:
        self.eof = True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        fail(self.head, exc or StreamError("connection closed before the response head"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- for subclasses and callers
    def on_blocks(self, blocks: list[bytes], now: float) -> None:
        """Called with the complete event blocks of one socket read and the time it arrived."""

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _parse_head(self, head: str, rest: bytes) -> bool:
        status_line, *header_lines = head.split("\r\n")
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.status = int(status_line.split()[1])
        if self.status != 200 or not self.headers.get("content-type", "").startswith("text/event-stream"):
            fail(
                self.head,
                StreamError(f"{status_line!r} {self.headers.get('content-type')!r}: {rest[:300]!r}"),
            )
            self.close()
            return False
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._dechunker = _Dechunker()
        self.head.set_result(None)
        return True


def block_fields(block: bytes) -> dict[bytes, bytes]:
    """Fields of one event block as bytes (last value wins; enough for id, event and one-line data)."""
    fields: dict[bytes, bytes] = {}
    for line in block.splitlines():
        if line and not line.startswith(b":"):
            name, _, value = line.partition(b":")
            fields[name] = value[1:] if value.startswith(b" ") else value
    return fields


C = TypeVar("C", bound=SSEConnection)


async def connect_sse(
    factory: Callable[[bytes], C],
    host: str,
    port: int,
    path: str,
    params: dict[str, object] | None = None,
    *,
    local_host: str | None = None,
) -> C:
    """Open a connection (from `local_host` when given) and send the GET; the head comes later."""
    loop = asyncio.get_running_loop()
    request = build_request(host, port, path, params)
    _, protocol = await loop.create_connection(
        lambda: factory(request),
        host,
        port,
        local_addr=(local_host, 0) if local_host else None,
    )
    return protocol


async def http_call(
    host: str, port: int, method: str, target: str, timeout: float = 120, headers: str = ""
) -> tuple[int, bytes]:
    """One request with `Connection: close` (and `headers`, each line ending in CRLF); returns the
    status and the body (read to EOF)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(
                f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\n"
                f"{headers}Connection: close\r\n\r\n".encode("ascii")
            )
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.read()
        finally:
            writer.close()
    status = int(head.split(b" ", 2)[1])
    if b"chunked" in head.lower():
        dechunker = _Dechunker()
        body = dechunker.feed(body)
    return status, body
