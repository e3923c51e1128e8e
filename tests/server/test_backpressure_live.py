"""A client that stops reading holds a bounded amount of the server, and is ended as a slow client.

Under `python -m echo.server` Twisted's producer signal makes a stream's `send` wait once a
connection has `SEND_HIGH_WATER` bytes queued; under uvicorn its own `send` waits. Either way the
stream stops pulling its source instead of buffering it, and a stream stalled for
`SLOW_CLIENT_TIMEOUT` seconds ends, recorded as `slow_client`.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, closing
from pathlib import Path

import httpx
import pytest

from ..servers import Server, daphne, uvicorn, wait_for
from ..services import session_rows

pytestmark = pytest.mark.live

HIGH_WATER = 65536
SLACK = 4096  # one event and its chunk framing, past the mark
TIMEOUT = 4.0  # SLOW_CLIENT_TIMEOUT for these servers
SETTINGS = f'{{"SLOW_CLIENT_TIMEOUT": {TIMEOUT}}}'
SERVERS: dict[str, Callable[[Path], AbstractContextManager[Server]]] = {
    "echo-server": lambda tmp: daphne(tmp, ECHO_TEST_SETTINGS=SETTINGS),
    "uvicorn": lambda tmp: uvicorn(tmp, ECHO_TEST_SETTINGS=SETTINGS),
}


@pytest.fixture(params=sorted(SERVERS))
def any_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with SERVERS[request.param](tmp_path) as server:
        yield server


def stats(server: Server) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{server.url}/_probe/stats", timeout=10).json()
    return body


def rss_kb(server: Server) -> int:
    with open(f"/proc/{server.pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def stop_reading(server: Server, token: str) -> socket.socket:
    """An `interval=0` stream without `limit` whose client reads its head, then nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    # 1000-character messages: the kernel's socket buffers (megabytes on loopback) fill quickly.
    query = f"message={token}{'x' * 960}&interval=0&tag={token}"
    sock.sendall(f"GET /sse2?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    sock.settimeout(10)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    return sock


def row(server: Server, token: str) -> dict[str, object]:
    rows = session_rows(server, "query LIKE ?", (f"%tag={token}%",))
    return rows[0] if rows else {}


def test_a_reader_that_stops_holds_a_bounded_buffer_and_ends_as_a_slow_client(any_server: Server) -> None:
    token = uuid.uuid4().hex
    with closing(stop_reading(any_server, token)):
        started = time.monotonic()
        # Once the socket buffers are full the stream waits: its count stops moving.
        counts: list[int] = []

        def settled() -> bool:
            live = stats(any_server)["live_events"]
            assert isinstance(live, dict)
            counts.append(next((n for q, n in live.items() if token in q), -1))
            return len(counts) > 3 and counts[-1] == counts[-4] and counts[-1] > 0

        wait_for(settled, timeout=TIMEOUT - 1, what="the stream to stop producing")
        before = rss_kb(any_server)
        while time.monotonic() - started < TIMEOUT - 0.5:
            sample = stats(any_server)
            queued = sample["queued_bytes"]
            assert isinstance(queued, list)
            assert max(queued, default=0) <= HIGH_WATER + SLACK, queued
            time.sleep(0.1)  # the sampling rate of a measurement, not a wait for a condition
        grown = rss_kb(any_server) - before
        # The queue bound above is the measurement; RSS is the cross-check. An unbounded buffer at
        # interval=0 grows by tens of megabytes a second; the probe requests and the allocator's
        # own arenas move RSS by a couple of megabytes either way, so the bound leaves room for them.
        assert grown <= 8192, f"RSS grew by {grown} KB while the client read nothing"

        ended = wait_for(
            lambda: row(any_server, token).get("ended_at") and row(any_server, token),
            timeout=TIMEOUT + 5,
            what="the stalled stream to end",
        )
    assert ended["end_reason"] == "slow_client", ended
    assert "Traceback" not in any_server.log(), any_server.log()


@pytest.mark.slow
def test_a_hundred_readers_that_stop_hold_at_most_32_mib(any_server: Server) -> None:
    tokens = [uuid.uuid4().hex for _ in range(100)]
    before = rss_kb(any_server)
    peak = before
    with ExitStack() as stack:
        for token in tokens:
            stack.enter_context(closing(stop_reading(any_server, token)))
        deadline = time.monotonic() + TIMEOUT - 0.5
        while time.monotonic() < deadline:
            peak = max(peak, rss_kb(any_server))
            time.sleep(0.1)  # sampling, as above

        def all_slow() -> bool:
            nonlocal peak
            peak = max(peak, rss_kb(any_server))
            return all(row(any_server, token).get("end_reason") == "slow_client" for token in tokens)

        wait_for(all_slow, timeout=TIMEOUT + 30, what="every stalled stream to end as a slow client")
    assert peak - before <= 32 * 1024, f"RSS grew by {peak - before} KB for 100 stalled readers"


@pytest.mark.slow
def test_with_the_default_timeout_a_stopped_reader_holds_under_2_mib_for_30_seconds(tmp_path: Path) -> None:
    """The issue's own measure: 30 s of a reader that stopped, with `SLOW_CLIENT_TIMEOUT` at its
    default (30 s), under `python -m echo.server`; then the stream ends as a slow client."""
    with daphne(tmp_path) as server:
        token = uuid.uuid4().hex
        with closing(stop_reading(server, token)):
            started = time.monotonic()
            wait_for(lambda: row(server, token), what="the stream's row")
            before = rss_kb(server)
            peak = before
            while time.monotonic() - started < 29.0:
                peak = max(peak, rss_kb(server))
                queued = stats(server)["queued_bytes"]
                assert isinstance(queued, list)
                assert max(queued, default=0) <= HIGH_WATER + SLACK, queued
                time.sleep(0.5)  # the sampling rate of a measurement, not a wait for a condition
            ended = wait_for(
                lambda: row(server, token).get("ended_at") and row(server, token),
                timeout=10,
                what="the stalled stream to end",
            )
    assert peak - before <= 2048, f"RSS grew by {peak - before} KB over 30 s"
    assert ended["end_reason"] == "slow_client", ended
