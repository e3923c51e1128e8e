"""SIGTERM to a Daphne with open streams: every client hears `shutdown` and its body ends cleanly.

Without the graceful drain Daphne cancels every application instance, and each client sees a
truncated chunked body; here each one must read a final event with a `retry` hint and a proper
end of body, every session row must end with `server_shutdown`, and the process must still exit.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, SSEError, connect_sse

from ..servers import DEFAULT_APP, Server, daphne, daphne_command, serving, wait_for
from ..services import session_rows

pytestmark = pytest.mark.live

STREAMS: list[tuple[str, dict[str, Any]]] = [
    ("/sse2", {"message": "one", "interval": 0.05}),
    ("/sse2", {"message": "two", "interval": 0.5}),
    ("/sse3", {"message": "three", "interval": 0.05}),
    ("/_probe/burst", {"n": 3}),
]
EXIT_WITHIN = 10.0
GRACE = 5.0  # ECHO["SHUTDOWN_GRACE"]'s default
SPREAD = 5000  # ECHO["FINAL_RETRY_SPREAD"]'s default, ms


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
                connect_sse(client, "GET", self.path, params={**self.params, "tag": self.token}) as source,
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


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_every_open_stream_with_a_final_event_then_stops_the_server(
    tmp_path: Path, signum: signal.Signals
) -> None:
    readers = [Reader(path, params, f"t{i}") for i, (path, params) in enumerate(STREAMS)]
    with daphne(tmp_path) as server, ThreadPoolExecutor(len(readers)) as pool:
        futures = [pool.submit(reader.run, server.url) for reader in readers]
        wait_for(lambda: all(r.started.is_set() for r in readers), what="a first event on every stream")
        assert [r.error for r in readers] == [None] * len(readers)
        wait_for(lambda: live_rows(server, len(readers)), what="a live row for every stream")

        started = time.monotonic()
        server.process.send_signal(signum)
        try:
            returncode = server.process.wait(EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"Daphne still running {EXIT_WITHIN}s after {signum.name}:\n{server.stacks()}")
        took = time.monotonic() - started
        for future in futures:
            future.result(timeout=EXIT_WITHIN)

    log = server.log()
    # Every stream here ends when asked: the drain is over long before the grace (5 s) runs out.
    assert took < GRACE, (took, log)
    assert "Shutdown grace ran out" not in log, log
    assert returncode == 0, log
    assert "Traceback" not in log, log
    for reader in readers:
        assert reader.error is None, (reader.path, repr(reader.error), log)
        assert reader.consumed
        final = reader.events[-1]
        assert final.event == "shutdown", (reader.path, reader.events)
        assert 3000 <= final.retry <= 3000 + SPREAD, (reader.path, reader.events)
        assert json.loads(final.data) == {"reason": "server_shutdown"}
        assert all(e.event != "shutdown" for e in reader.events[:-1])

    # Spread: one draw per stream, so the clients do not all come back at the same moment.
    assert len({reader.events[-1].retry for reader in readers}) > 1

    rows = {row["query"].rpartition("tag=")[2]: row for row in session_rows(server)}
    assert sorted(rows) == sorted(r.token for r in readers)
    for reader in readers:
        row = rows[reader.token]
        assert row["end_reason"] == "server_shutdown", row
        assert row["ended_at"] is not None
        assert row["events_sent"] == len(reader.events) - 1, (row, reader.events)
        assert row["bytes_sent"] == reader.received


def _open(server: Server, path: str, **params: Any) -> tuple[Reader, Any]:
    reader = Reader(path, params, "x")
    thread = threading.Thread(target=reader.run, args=(server.url,), daemon=True)
    thread.start()
    return reader, thread


def test_a_stream_that_does_not_end_is_cut_off_when_the_grace_runs_out(tmp_path: Path) -> None:
    with daphne(tmp_path, ECHO_TEST_SETTINGS='{"SHUTDOWN_GRACE": 1.0}') as server:
        reader, thread = _open(server, "/_probe/stuck")
        wait_for(reader.started.is_set, what="the stuck stream's first event")
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(EXIT_WITHIN)
        took = time.monotonic() - started
        thread.join(EXIT_WITHIN)
    log = server.log()
    assert "Shutdown grace ran out with streams still open" in log, log
    assert took >= 1.0, took  # it did wait for the grace
    assert [event.event for event in reader.events] == ["tick"]


def test_a_stream_opened_during_the_drain_gets_the_final_event_at_once(tmp_path: Path) -> None:
    with daphne(tmp_path, ECHO_TEST_SETTINGS='{"SHUTDOWN_GRACE": 3.0}') as server:
        holder, holder_thread = _open(server, "/_probe/stuck")
        wait_for(holder.started.is_set, what="the stuck stream's first event")
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "Shutting down" in server.log(), what="the drain to start")
        with (
            httpx.Client(base_url=server.url, timeout=5) as client,
            connect_sse(client, "GET", "/sse2", params={"message": "late", "interval": 0.05}) as source,
        ):
            late = [event.event for event in source.iter_sse()]
        server.process.wait(EXIT_WITHIN)
        holder_thread.join(EXIT_WITHIN)
    assert late == ["shutdown"]


def test_without_graceful_shutdown_streams_get_no_final_event(tmp_path: Path) -> None:
    with daphne(tmp_path, ECHO_TEST_SETTINGS='{"GRACEFUL_SHUTDOWN": false}') as server:
        reader, thread = _open(server, "/sse2", message="plain", interval=0.05)
        wait_for(reader.started.is_set, what="a first event")
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(EXIT_WITHIN)
        thread.join(EXIT_WITHIN)
    assert reader.events
    assert all(event.event == "echo" for event in reader.events), reader.events
    assert "Shutting down" not in server.log()


# Runs the server with SIGINT ignored, as `nohup` or `&` in a script start a process.
IGNORING_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def test_a_server_started_with_sigint_ignored_keeps_ignoring_it_and_still_drains_on_sigterm(
    tmp_path: Path,
) -> None:
    def ignoring_sigint(host: str, port: int, app: str) -> list[str]:
        return [sys.executable, "-c", IGNORING_SIGINT, *daphne_command(host, port, app)[1:]]

    with serving(ignoring_sigint, tmp_path, DEFAULT_APP, {}) as server:
        reader, thread = _open(server, "/sse2", message="on", interval=0.05)
        wait_for(reader.started.is_set, what="a first event")
        server.process.send_signal(signal.SIGINT)
        # Still serving: more events arrive, the stream was not ended, nothing drained.
        seen = len(reader.events)
        wait_for(lambda: len(reader.events) >= seen + 5, what="events after SIGINT")
        assert server.process.poll() is None
        assert "Shutting down" not in server.log()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(EXIT_WITHIN)
        thread.join(EXIT_WITHIN)
    assert reader.events[-1].event == "shutdown", reader.events
    assert all(event.event == "echo" for event in reader.events[:-1])
