"""SIGTERM to a Daphne with open streams: every client hears `shutdown` and its body ends cleanly.

Without the graceful drain Daphne cancels every application instance, and each client sees a
truncated chunked body; here each one must read a final event with a `retry` hint and a proper
end of body, every session row must end with `server_shutdown`, and the process must still exit.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, SSEError, connect_sse

from ..servers import Server, daphne, wait_for
from ..services import session_rows

pytestmark = pytest.mark.live

STREAMS: list[tuple[str, dict[str, Any]]] = [
    ("/sse2", {"message": "one", "interval": 0.05}),
    ("/sse2", {"message": "two", "interval": 0.5}),
    ("/sse3", {"message": "three", "interval": 0.05}),
    ("/_probe/burst", {"n": 3}),
]
EXIT_WITHIN = 10.0


@dataclass
class Reader:
    path: str
    params: dict[str, Any]
    token: str
    started: threading.Event = field(default_factory=threading.Event)
    events: list[ServerSentEvent] = field(default_factory=list)
    received: int = 0
    consumed: bool = False
    error: httpx.HTTPError | SSEError | None = None

    def run(self, url: str) -> None:
        try:
            with (
                httpx.Client(base_url=url, timeout=15) as client,
                connect_sse(client, "GET", self.path, params={**self.params, "token": self.token}) as source,
            ):
                for event in source.iter_sse():
                    self.events.append(event)
                    self.started.set()
                self.received = source.response.num_bytes_downloaded
                self.consumed = source.response.is_stream_consumed
        except (httpx.HTTPError, SSEError) as exc:  # reported by the test, with the events so far
            self.error = exc
        finally:
            self.started.set()


def live_rows(server: Server, count: int) -> bool:
    return len(session_rows(server, "ended_at IS NULL")) == count


def test_sigterm_ends_every_open_stream_with_a_final_event_then_stops_the_server(tmp_path: Path) -> None:
    readers = [Reader(path, params, f"t{i}") for i, (path, params) in enumerate(STREAMS)]
    with daphne(tmp_path) as server, ThreadPoolExecutor(len(readers)) as pool:
        futures = [pool.submit(reader.run, server.url) for reader in readers]
        wait_for(lambda: all(r.started.is_set() for r in readers), what="a first event on every stream")
        assert [r.error for r in readers] == [None] * len(readers)
        wait_for(lambda: live_rows(server, len(readers)), what="a live row for every stream")

        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            returncode = server.process.wait(EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"Daphne still running {EXIT_WITHIN}s after SIGTERM:\n{server.log()}")
        took = time.monotonic() - started
        for future in futures:
            future.result(timeout=EXIT_WITHIN)

    log = server.log()
    print(f"Daphne exited with {returncode} {took:.2f}s after SIGTERM")
    assert returncode == 0, log
    assert "Traceback" not in log, log
    for reader in readers:
        assert reader.error is None, (reader.path, repr(reader.error), log)
        assert reader.consumed
        final = reader.events[-1]
        assert (final.event, final.retry) == ("shutdown", 3000), (reader.path, reader.events)
        assert json.loads(final.data) == {"reason": "server_shutdown"}
        assert all(e.event != "shutdown" for e in reader.events[:-1])

    rows = {row["query"].rpartition("token=")[2]: row for row in session_rows(server)}
    assert sorted(rows) == sorted(r.token for r in readers)
    for reader in readers:
        row = rows[reader.token]
        assert row["end_reason"] == "server_shutdown", row
        assert row["ended_at"] is not None
        assert row["events_sent"] == len(reader.events) - 1, (row, reader.events)
        assert row["bytes_sent"] == reader.received
