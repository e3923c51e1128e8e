"""What a newcomer sees: the start-up log names the broadcast mode, and a Redis that cannot be
reached is one clear warning (the server, `manage.py publish`), never a traceback."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from ..servers import daphne, free_port, manage, migrate, postgres_mode, server_env, wait_for

pytestmark = pytest.mark.live


def test_the_embedded_mode_is_named_at_start_up(live_server_process) -> None:  # type: ignore[no-untyped-def]
    log = wait_for(lambda: "Broadcast mode:" in live_server_process.log() and live_server_process.log())
    # On PostgreSQL without Redis, its notifications carry events between processes by default.
    expected = "PostgreSQL LISTEN/NOTIFY" if postgres_mode() else "embedded: one process"
    assert f"Broadcast mode: {expected}" in log


def test_an_unreachable_redis_is_one_warning_and_streams_still_work(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with daphne(tmp_path, REDIS_URL=dead) as server:
        log = wait_for(lambda: "Broadcast mode:" in server.log() and server.log(), what="the mode line")
        assert f"Broadcast mode: Redis ({dead})" in log
        with httpx.Client(base_url=server.url, timeout=10) as client:
            with connect_sse(client, "GET", "/sse2", params={"message": "hi", "limit": 2}) as source:
                assert [event.event for event in source.iter_sse()] == ["echo", "echo", "completed"]
            with connect_sse(client, "GET", "/events/demo/") as source:
                assert next(source.iter_sse()).event == "stream-open"
        wait_for(lambda: "Lost Redis" in server.log(), what="the relay's warning")
        wait_for(lambda: "cannot join echo.sessions" in server.log(), what="the control bus's warning")
        log = server.log()
    assert log.count(f"Redis at {dead} is unreachable") == 1, log
    assert log.count("Lost Redis") == 1, log
    assert log.count("cannot join echo.sessions") == 1, log
    assert "Traceback" not in log, log
    assert "never retrieved" not in log, log


def test_publish_with_redis_unreachable_stores_the_event_exits_0_and_warns_in_one_line(
    tmp_path: Path,
) -> None:
    env = server_env(tmp_path / "db.sqlite3", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    migrate(env)
    done = manage("publish", "demo", "chat_message", '{"text": "hi"}', env=env)
    # Stored: a script that retries on a failure would store it twice.
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Published chat_message to demo with id 1.\n"
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Warning: other processes were not told at once (could not reach Redis"), line


def test_publish_exits_1_when_storage_is_off(tmp_path: Path) -> None:
    env = server_env(tmp_path / "db.sqlite3", ECHO_TEST_STORAGE_OFF="1")
    migrate(env)
    done = manage("publish", "demo", "chat_message", '{"text": "hi"}', env=env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("CommandError: Sent chat_message to demo without storing it: storage is off")
    ), done.stderr
