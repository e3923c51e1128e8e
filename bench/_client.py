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
from typing import TypeVar
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
