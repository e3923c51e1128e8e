"""A broadcast subscriber that stops reading: the server holds a bounded amount for it, it gets
every event in order once it reads again (caught up from storage), and other subscribers are not
slowed by it."""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from ..http1 import dechunk
from ..servers import Server, daphne, run_python
from ..whatwg import parse

pytestmark = [pytest.mark.live, pytest.mark.slow]

EVENTS = 20_000
TEXT = "x" * 1000  # about 1 KB an event
PUBLISH = """
import django
django.setup()
from django.db import transaction
from echo.broadcast.publish import publish
from echo.demo.messages import ChatMessage, MessagePayload
for start in range(0, {count}, 1000):
    with transaction.atomic():
        for n in range(start, min(start + 1000, {count})):
            publish({channel!r}, ChatMessage.create(MessagePayload(text={text!r})))
"""


@pytest.fixture
def busy_server(tmp_path: Path) -> Iterator[Server]:
    # Every event kept: the stalled subscriber falls 20,000 behind, past the default retention.
    settings = '{"BROADCAST_POLL_INTERVAL": 0.2, "BROADCAST_KEEP_EVENTS": null}'
    with daphne(tmp_path, ECHO_TEST_SETTINGS=settings) as server:
        yield server


def rss_kb(server: Server) -> int:
    with open(f"/proc/{server.pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


class Listener(threading.Thread):
    """A subscriber that reads every event and notes how late each arrived."""

    def __init__(self, server: Server, channel: str, count: int) -> None:
        super().__init__(daemon=True)
        self.server, self.channel, self.count = server, channel, count
        self.ready = threading.Event()
        self.lateness: list[float] = []
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with (
                httpx.Client(base_url=self.server.url, timeout=30) as client,
                connect_sse(client, "GET", f"/events/{self.channel}/") as source,
            ):
                for event in source.iter_sse():
                    if event.event == "stream-open":
                        self.ready.set()
                        continue
                    sent = datetime.fromisoformat(json.loads(event.data)["sent_at"])
                    self.lateness.append(datetime.now().timestamp() - sent.timestamp())
                    if len(self.lateness) == self.count:
                        return
        except (httpx.HTTPError, ValueError, KeyError) as exc:  # reported by the test
            self.error = exc
        finally:
            self.ready.set()


def publish_all(server: Server, channel: str, count: int) -> None:
    run_python("-c", PUBLISH.format(count=count, channel=channel, text=TEXT), env=server.env)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def test_a_stalled_subscriber_is_bounded_and_caught_up_and_slows_no_one(busy_server: Server) -> None:
    server = busy_server
    # A first round without the stalled subscriber: the other subscriber's lateness as it is.
    alone = Listener(server, "calm", EVENTS // 4)
    alone.start()
    alone.ready.wait(10)
    publish_all(server, "calm", EVENTS // 4)
    alone.join(120)
    assert alone.error is None, alone.error
    assert len(alone.lateness) == EVENTS // 4

    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", server.port))
    with closing(stalled):
        stalled.sendall(b"GET /events/busy/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        stalled.settimeout(10)
        head = b""
        while b"stream-open" not in head:
            chunk = stalled.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 200")

        other = Listener(server, "busy", EVENTS)
        other.start()
        other.ready.wait(10)
        before = rss_kb(server)
        peak = before
        publisher = threading.Thread(target=publish_all, args=(server, "busy", EVENTS), daemon=True)
        publisher.start()
        while publisher.is_alive() or other.is_alive():
            peak = max(peak, rss_kb(server))
            publisher.join(0.1)  # sampling RSS while the round runs
            other.join(0.0)
        assert other.error is None, other.error
        assert len(other.lateness) == EVENTS
        grown = peak - before

        # Now it reads again: everything, in order, from where it stopped.
        received = bytearray(head)
        closed = False
        stalled.settimeout(30)
        deadline = time.monotonic() + 60
        # Counting the tail only: the whole body is about 22 MB.
        seen = received.count(b"event: chat_message")
        # Until the last event's chunk is whole, not just its first line.
        while (seen < EVENTS or not received.endswith(b"\n\n\r\n")) and time.monotonic() < deadline:
            try:
                chunk = stalled.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed = True  # ended as a slow client: what it got must still be in order
                break
            tail = len(received) - len(b"event: chat_message") + 1
            received += chunk
            seen += received.count(b"event: chat_message", max(tail, 0))
        body = bytes(received)

    assert grown <= 4 * 1024, f"RSS grew by {grown} KB while a subscriber read nothing"
    ids = [
        event.last_event_id
        for event in parse(dechunk(body.partition(b"\r\n\r\n")[2], complete=False)).events
        if event.type == "chat_message"
    ]
    assert ids == [f"busy:{n}" for n in range(1, len(ids) + 1)]
    assert len(ids) == EVENTS or closed, len(ids)
    # The stalled subscriber did not slow the other one.
    assert p99(other.lateness) <= 2 * p99(alone.lateness) + 0.25, (p99(other.lateness), p99(alone.lateness))
