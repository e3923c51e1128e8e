"""Under Daphne: writes go straight to the socket, and what the kernel cannot take waits its turn.

`echo.server.transport.DirectWriteServer` sends a write at once when nothing is queued and hands the
rest to Twisted's buffer. The risk is order and completeness once the client stops reading, so
the test here makes the server fill the kernel's buffers before the client reads a byte.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings

from ..http1 import dechunk
from ..servers import Server, wait_for
from ..whatwg import parse

pytestmark = pytest.mark.live

EVENTS = 20_000
STALLED_EVENTS = 5_000  # about 5 MB: more than the kernel's loopback buffers hold


def _stats(server: Server) -> dict[str, object]:
    stats = httpx.get(f"{server.url}/_probe/stats", timeout=5).json()
    assert isinstance(stats, dict)
    return stats


def test_daphne_connections_write_directly_and_gc_is_tuned(server: Server) -> None:
    stats = _stats(server)
    # Each optimisation follows its setting (all off with ECHO_OPTIMISATIONS=off).
    assert stats["direct_writes"] is settings.OPTIMISATIONS
    # Everything loaded at start-up is frozen out of the collector's view; thresholds from ECHO.
    assert isinstance(stats["gc_frozen"], int)
    if settings.OPTIMISATIONS:
        assert stats["gc_frozen"] > 10_000
        assert stats["gc_threshold"] == [10_000, 10, 10]
    else:
        assert stats["gc_frozen"] == 0
        assert stats["gc_threshold"] == [700, 10, 10]


def test_an_open_stream_costs_daphne_one_task_and_no_watcher(server: Server) -> None:
    # Daphne hands the handler an Inbox, watched for http.disconnect without a task of its own.
    url = f"{server.url}/_probe/burst"
    lines: list[Iterator[str]] = []  # kept: dropping a half-read iterator closes its connection
    with httpx.Client(timeout=10) as client, contextlib.ExitStack() as streams:

        def open_stream() -> None:
            response = streams.enter_context(client.stream("GET", url, params={"n": 1, "i": len(lines)}))
            lines.append(response.iter_lines())
            next(lines[-1])

        def tasks_with(streams: int) -> int | None:
            stats = _stats(server)
            live = stats["live_events"]
            assert isinstance(live, dict)
            tasks = stats["tasks"]
            assert isinstance(tasks, int)
            return tasks if len(live) == streams else None

        # Without the Inbox (DAPHNE_INBOX off) a watcher task waits on each stream's queue.
        per_stream = 1 if settings.OPTIMISATIONS else 2
        open_stream()
        one = wait_for(lambda: tasks_with(1), what="only this test's stream open")
        for _ in range(5):
            open_stream()
        wait_for(lambda: tasks_with(6) == one + 5 * per_stream, what="the tasks each open stream takes")


def test_streams_read_to_their_end_leave_the_live_registry(server: Server) -> None:
    # Daphne puts http.disconnect as the response ends, from inside the handler's last send: the
    # handler must still close the response (which unregisters the stream) rather than be
    # cancelled on the way.
    token = uuid.uuid4().hex
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for n in range(30):
            for path in ("/sse", "/sse2", "/sse3"):
                response = client.get(path, params={"message": f"{token}-{n}", "interval": 0, "limit": 1})
                assert response.status_code == 200

    def ours_still_live() -> list[str]:
        live = _stats(server)["live_events"]
        assert isinstance(live, dict)
        return [query for query in live if token in query]

    wait_for(lambda: not ours_still_live(), what="every finished stream unregistered")


@pytest.mark.parametrize("body", ["a request body", ""])
def test_a_stream_gets_the_body_its_view_read_and_then_lets_the_request_go(server: Server, body: str) -> None:
    response = httpx.post(f"{server.url}/_probe/body", content=body.encode(), timeout=10)
    assert response.status_code == 200
    events = [event for event in parse(response.text).events if event.type in ("body", "closed")]
    assert [(event.type, event.data) for event in events] == [("body", body), ("closed", "")]


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_client_that_stops_reading_still_gets_every_event_in_order(server: Server) -> None:
    message = uuid.uuid4().hex + "x" * 960
    query = f"message={message}&interval=0&limit={STALLED_EVENTS}"
    # A small receive buffer from the start (set after connecting, the kernel grows the window
    # anyway): the kernel's buffers fill with a few megabytes and Twisted queues the rest.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    with contextlib.closing(sock):
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(f"GET /sse2?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())

        counts: list[int] = []

        def stalled() -> bool:
            stats = _stats(server)
            live, queued = stats["live_events"], stats["queued_bytes"]
            assert isinstance(live, dict)
            assert isinstance(queued, list)
            counts.append(live.get(query, 0))
            held = len(counts) > 3 and counts[-1] == counts[-4] and 0 < counts[-1] < STALLED_EVENTS
            return held and sum(queued) >= 16 * 1024

        wait_for(stalled, timeout=20, what="the stream to wait behind what the client does not read")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # now it reads, quickly
        raw = _read_all(sock)

    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding: chunked" in head.lower()
    events = [event for event in parse(dechunk(body)).events if event.type == "echo"]
    assert [event.last_event_id for event in events] == [str(n) for n in range(STALLED_EVENTS)]
    assert all(message in event.data for event in events)
