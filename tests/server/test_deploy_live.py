"""A deploy under load: SIGTERM to one of two server processes holding 2,000 open streams.

Every client reads the final `shutdown` event within the shutdown grace, its `retry` hint drawn
from `FINAL_RETRY` + `FINAL_RETRY_SPREAD` (3 + 0..5 s), and, waiting that long as `EventSource`
does, streams again from the other process without the reconnects arriving in one burst.
The reconnect storm (bench/scenarios/storm.py) measures how long a restart's reconnects take.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path

import pytest

from ..loops import run
from ..servers import Server, daphne

pytestmark = [pytest.mark.live, pytest.mark.slow]

STREAMS = 2000
GRACE = 5.0  # ECHO["SHUTDOWN_GRACE"]
RETRY, SPREAD = 3000, 5000  # ECHO["FINAL_RETRY"], ECHO["FINAL_RETRY_SPREAD"] (ms)
SOURCES = [f"127.0.0.{n}" for n in range(2, 52)]  # 40 streams per address, under the per-client cap
TARGET = (
    b"GET /sse2?message=deploy&interval=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
)
_RETRY = re.compile(rb"event: shutdown\r?\n(?:.*\r?\n)*?retry: (\d+)")


class Stream(asyncio.Protocol):
    """One raw event stream: when its first event came, its final event's retry, when it closed."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.first: asyncio.Future[float] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.tail = b""
        self.final_at: float | None = None
        self.retry: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(TARGET)

    def data_received(self, data: bytes) -> None:
        self.tail = (self.tail + data)[-4096:]  # the last event is all this reads
        if not self.first.done() and b"event: echo" in self.tail:
            self.first.set_result(time.monotonic())
        if self.final_at is None and b"event: shutdown" in self.tail:
            found = _RETRY.search(self.tail)
            if found is not None:
                self.final_at = time.monotonic()
                self.retry = int(found[1])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.first.done():
            self.first.set_exception(ConnectionError("closed before the first event"))
            self.first.exception()
        if not self.closed.done():
            self.closed.set_result(None)


async def connect(server: Server, source: str) -> tuple[asyncio.Transport, Stream]:
    loop = asyncio.get_running_loop()
    transport, stream = await loop.create_connection(Stream, "127.0.0.1", server.port, local_addr=(source, 0))
    return transport, stream


async def deploy(a: Server, b: Server) -> dict[str, list[float]]:
    limit = asyncio.Semaphore(200)

    async def hold(n: int) -> tuple[asyncio.Transport, Stream]:
        async with limit:
            transport, stream = await connect(a, SOURCES[n % len(SOURCES)])
            await asyncio.wait_for(stream.first, 30)
            return transport, stream

    held = await asyncio.gather(*(hold(n) for n in range(STREAMS)))
    signalled = time.monotonic()
    a.process.send_signal(signal.SIGTERM)
    reconnects: list[float] = []

    async def come_back(n: int, stream: Stream) -> float:
        await asyncio.wait_for(stream.closed, GRACE + 10)
        assert stream.retry is not None, stream.tail[-300:]
        await asyncio.sleep(stream.retry / 1000)  # the client's reconnection delay, as EventSource's
        reconnects.append(time.monotonic() - signalled)
        transport, again = await connect(b, SOURCES[n % len(SOURCES)])
        try:
            return await asyncio.wait_for(again.first, 30) - signalled
        finally:
            transport.close()

    back = await asyncio.gather(*(come_back(n, stream) for n, (_, stream) in enumerate(held)))
    return {
        "finals": [stream.final_at - signalled for _, stream in held if stream.final_at is not None],
        "retries": [float(stream.retry) for _, stream in held if stream.retry is not None],
        "reconnects": reconnects,
        "back": list(back),
    }


def test_a_deploy_under_2000_streams_ends_each_with_a_spread_retry_and_they_come_back(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with daphne(tmp_path / "a") as a, daphne(tmp_path / "b") as b:
        found = run(deploy(a, b))
        assert a.process.wait(GRACE + 10) == 0, a.log()[-3000:]
        log = a.log()
    assert len(found["finals"]) == STREAMS
    assert max(found["finals"]) < GRACE, max(found["finals"])  # every final event within the grace
    assert "Shutdown grace ran out" not in log
    assert all(RETRY <= retry <= RETRY + SPREAD for retry in found["retries"])
    # Spread over the window, not one moment: no tenth of a second takes a quarter of the clients.
    bins: dict[int, int] = {}
    for at in found["reconnects"]:
        bins[int(at * 10)] = bins.get(int(at * 10), 0) + 1
    assert max(bins.values()) < STREAMS // 4, sorted(bins.items())
    assert max(found["retries"]) - min(found["retries"]) > SPREAD / 2
    assert len(found["back"]) == STREAMS  # every client streams again, from the other process
