"""`python -m echo.server --workers N`: one port served by N worker processes, live.

The parent binds the port and supervises; the workers inherit the socket. Which worker served a
stream is read from its session row (`server` is host:pid).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent, connect_sse

from ..postgres import Postgres, postgres_for_test
from ..servers import (
    ROOT,
    Server,
    daphne_command,
    free_port,
    live_processes,
    manage,
    migrate,
    run_python,
    running,
    server_env,
    wait_for,
)
from ..services import session_rows
from ..sessions.test_terminate_live import create_superuser, log_in, terminate_from_admin

pytestmark = pytest.mark.live

SETTINGS = "tests.server.settings_workers"
ATTEMPTS = 40  # streams opened at most to find one served by a given worker


def children(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (from /proc)."""
    return {child for child, fields in live_processes() if int(fields[1]) == pid}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def workers(tmp_path: Path, count: int = 2, env: dict[str, str] | None = None) -> Iterator[Server]:
    env = env or server_env(tmp_path / "db.sqlite3", settings=SETTINGS)
    migrate(env)
    port = free_port()
    command = [*daphne_command("127.0.0.1", port), "--workers", str(count)]
    with running(command, tmp_path, host="127.0.0.1", port=port, env=env) as server:
        wait_for(lambda: len(children(server.pid)) == count, what=f"{count} workers")
        yield server


class Held:
    """Streams held open on a server, each with the pid of the worker that serves it."""

    def __init__(self, server: Server, stack: ExitStack) -> None:
        self.server = server
        self.stack = stack
        self.client = stack.enter_context(httpx.Client(base_url=server.url, timeout=20))
        self.streams: list[tuple[int, str, EventSource, Iterator[ServerSentEvent]]] = []

    def open(self, path: str = "/sse2", **params: Any) -> int:
        token = uuid.uuid4().hex
        query = {"message": "hi", "interval": 0.5, **params, "tag": token} if path == "/sse2" else params
        source = self.stack.enter_context(connect_sse(self.client, "GET", path, params=query))
        reader = source.iter_sse()
        next(reader)
        where = ("query LIKE ? AND ended_at IS NULL", (f"%tag={token}%",))
        if path != "/sse2":
            known = {stream[1] for stream in self.streams}
            where = ("path = ? AND ended_at IS NULL", (path,))
        rows = wait_for(
            lambda: [r for r in session_rows(self.server, *where) if path == "/sse2" or r["id"] not in known],
            what="the stream's session row",
        )
        session = rows[0]
        pid = int(session["server"].rsplit(":", 1)[1])
        self.streams.append((pid, session["id"], source, reader))
        return pid

    def pids(self) -> set[int]:
        return {stream[0] for stream in self.streams}

    def until_served_by(self, pids: set[int], path: str = "/sse2", **params: Any) -> None:
        for _ in range(ATTEMPTS):
            if pids <= self.pids():
                return
            self.open(path, **params)
        raise AssertionError(f"{ATTEMPTS} streams, none served by {pids - self.pids()}")


def test_two_workers_on_one_port_both_serve(tmp_path: Path) -> None:
    with workers(tmp_path) as server, ExitStack() as stack:
        pids = children(server.pid)
        held = Held(server, stack)
        held.until_served_by(pids)
        assert held.pids() == pids
        assert server.pid not in held.pids()  # the parent serves nothing itself


def test_a_worker_killed_is_replaced_by_one_that_serves(tmp_path: Path) -> None:
    with workers(tmp_path) as server, ExitStack() as stack:
        before = children(server.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        after = wait_for(
            lambda: (found := children(server.pid)) - before and len(found) == 2 and found,
            what="a new worker",
        )
        (new,) = after - before
        Held(server, stack).until_served_by({new})
        assert "was killed by SIGKILL" in server.log()


def test_sigterm_drains_every_stream_on_every_worker_and_the_parent_exits_0(tmp_path: Path) -> None:
    with workers(tmp_path) as server, ExitStack() as stack:
        pids = children(server.pid)
        held = Held(server, stack)
        held.until_served_by(pids)
        server.process.send_signal(signal.SIGTERM)
        for _pid, _id, source, reader in held.streams:
            events = list(reader)
            assert source.response.is_stream_consumed
            final = events[-1]
            assert final.event == "shutdown", events
            assert json.loads(final.data) == {"reason": "server_shutdown"}
            assert final.retry is not None
            assert 3000 <= final.retry <= 8000  # FINAL_RETRY and its spread
        assert server.process.wait(30) == 0
    assert not any(alive(pid) for pid in pids)
    log = server.log()
    assert "Stopping 2 worker(s) (SIGTERM)" in log
    assert "Traceback" not in log, log


def test_one_worker_is_todays_single_process(tmp_path: Path) -> None:
    env = server_env(tmp_path / "one.sqlite3", settings=SETTINGS)
    migrate(env)
    port = free_port()
    command = [*daphne_command("127.0.0.1", port), "--workers", "1"]
    with running(command, tmp_path, host="127.0.0.1", port=port, env=env) as server, ExitStack() as stack:
        assert not children(server.pid) - {server.pid}
        assert Held(server, stack).open() == server.pid


def test_workers_that_keep_dying_at_start_make_the_parent_give_up(tmp_path: Path) -> None:
    env = server_env(tmp_path / "db.sqlite3", settings=SETTINGS)
    port = free_port()
    command = [*daphne_command("127.0.0.1", port, "no.such.module:application"), "--workers", "2"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Workers keep dying as they start (5 in a row): giving up" in done.stderr


def test_workers_refuse_an_endpoint_they_cannot_share(tmp_path: Path) -> None:
    env = server_env(tmp_path / "db.sqlite3", settings=SETTINGS)
    command = [sys.executable, "-m", "echo.server", "--workers", "2", "-u", str(tmp_path / "s.sock"), "x:y"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "--workers serves IPv4 tcp endpoints only" in done.stderr
    assert "Traceback" not in done.stderr


def terminate_across_workers(server: Server) -> None:
    """An admin action for two streams, one on each worker: whichever worker handles it, the
    other's stream ends too, with its final `terminated` event."""
    create_superuser(server)
    with ExitStack() as stack, httpx.Client(base_url=server.url, timeout=10) as admin:
        held = Held(server, stack)
        held.until_served_by(children(server.pid))
        targets = {pid: stream for pid, *stream in reversed(held.streams)}
        csrf = log_in(admin)
        ids = [session_id for session_id, _source, _reader in targets.values()]
        assert terminate_from_admin(admin, csrf, *ids) == "Asked 2 live session(s) to end."
        for _session_id, _source, reader in targets.values():
            assert list(reader)[-1].event == "terminated"
    assert "Traceback" not in server.log(), server.log()


def publish_to_both_workers(server: Server) -> None:
    with ExitStack() as stack:
        held = Held(server, stack)
        held.until_served_by(children(server.pid), "/events/demo/")
        done = manage("publish", "demo", "chat_message", '{"text": "to every worker"}', env=server.env)
        assert done.returncode == 0, done.stderr
        for pid in children(server.pid):
            stream = next(s for s in held.streams if s[0] == pid)
            event = next(e for e in stream[3] if e.event == "chat_message")
            assert json.loads(event.data)["text"] == "to every worker"


def test_a_terminate_reaches_the_other_worker_on_sqlite(tmp_path: Path) -> None:
    with workers(tmp_path) as server:
        terminate_across_workers(server)


def test_a_terminate_from_another_process_reaches_both_workers_on_sqlite(tmp_path: Path) -> None:
    with workers(tmp_path) as server, ExitStack() as stack:
        held = Held(server, stack)
        held.until_served_by(children(server.pid))
        ids = [stream[1] for stream in held.streams]
        script = f"from echo.sessions.bus import terminate_sessions; terminate_sessions({ids!r}, by='a test')"
        run_python("manage.py", "shell", "-c", script, env=server.env)
        for _pid, _id, _source, reader in held.streams:
            assert list(reader)[-1].event == "terminated"


def test_a_publish_reaches_subscribers_on_both_workers_on_sqlite(tmp_path: Path) -> None:
    with workers(tmp_path) as server:
        publish_to_both_workers(server)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_for_test() as server:
        yield server


def postgres_env(postgres: Postgres, tmp_path: Path) -> dict[str, str]:
    name = f"echo_{tmp_path.name.replace('-', '_').lower()}"[:60]
    return server_env(tmp_path / "db.sqlite3", settings=SETTINGS, DATABASE_URL=postgres.url(name))


@pytest.mark.postgres
def test_a_terminate_and_a_publish_reach_both_workers_on_postgresql(
    postgres: Postgres, tmp_path: Path
) -> None:
    with workers(tmp_path, env=postgres_env(postgres, tmp_path)) as server:
        log = wait_for(lambda: "Broadcast mode" in server.log() and server.log(), what="the mode line")
        assert "PostgreSQL LISTEN/NOTIFY" in log
        terminate_across_workers(server)
        publish_to_both_workers(server)
