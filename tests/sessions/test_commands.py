"""The session housekeeping commands: `prune_sessions` and `close_stale_sessions`."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from echo.sessions.models import StreamSession

from ..servers import manage, server_env

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def ago(**delta: float) -> Any:
    return timezone.now() - timedelta(**delta)


def ended(days_ago: float, **fields: Any) -> StreamSession:
    return StreamSession.objects.create(
        stream="echo",
        started_at=ago(days=days_ago, minutes=5),
        last_seen_at=ago(days=days_ago),
        ended_at=ago(days=days_ago),
        end_reason=StreamSession.EndReason.COMPLETED,
        **fields,
    )


def live(server: str, *, silent_for: timedelta = timedelta(0)) -> StreamSession:
    seen = timezone.now() - silent_for
    return StreamSession.objects.create(
        stream="echo", server=server, started_at=seen - timedelta(minutes=1), last_seen_at=seen
    )


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process of ours that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    assert process.wait(timeout=30) == 0
    return process.pid


def here(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}"


# -- prune_sessions --------------------------------------------------------------------------------


def test_prune_deletes_only_sessions_that_ended_before_the_cutoff() -> None:
    old = [ended(8), ended(30)]
    recent = ended(6)
    live_for_a_month = StreamSession.objects.create(stream="echo", started_at=ago(days=30))

    output = run("prune_sessions", "--older-than", "7d")

    assert output.startswith("Deleted 2 session(s) that ended before ")
    remaining = set(StreamSession.objects.values_list("id", flat=True))
    assert remaining == {recent.id, live_for_a_month.id}
    assert not remaining & {row.id for row in old}


def test_prune_defaults_to_seven_days() -> None:
    ended(8)
    keep = ended(6)

    assert run("prune_sessions").startswith("Deleted 1 session(s)")
    assert list(StreamSession.objects.values_list("id", flat=True)) == [keep.id]


@pytest.mark.parametrize(("age", "kept"), [("90s", 1), ("30m", 1), ("12h", 2), ("2d", 3), ("2w", 4)])
def test_prune_understands_every_duration_unit(age: str, kept: int) -> None:
    ended(0.0005)  # 43 seconds ago
    ended(0.25)
    ended(1)
    ended(8)
    ended(20)

    run("prune_sessions", "--older-than", age)

    assert StreamSession.objects.count() == kept


def test_prune_dry_run_counts_and_deletes_nothing() -> None:
    ended(8)
    ended(9)
    ended(1)

    output = run("prune_sessions", "--older-than", "7d", "--dry-run")

    assert output.startswith("Would delete 2 session(s) that ended before ")
    assert StreamSession.objects.count() == 3


@pytest.mark.parametrize("bad", ["7", "7x", "d", "-1d", "1.5h", ""])
def test_prune_refuses_a_malformed_duration(bad: str) -> None:
    ended(30)

    with pytest.raises(CommandError, match="is not a duration"):
        run("prune_sessions", f"--older-than={bad}")
    assert StreamSession.objects.count() == 1


# -- close_stale_sessions --------------------------------------------------------------------------


def test_close_stale_ends_sessions_of_a_dead_process_on_this_host(dead_pid: int) -> None:
    orphans = [live(here(dead_pid)), live(here(dead_pid))]
    serving = live(here(os.getpid()))

    output = run("close_stale_sessions")

    assert output.startswith("Closed 2 stale session(s) (")
    for row in orphans:
        row.refresh_from_db()
        assert row.ended_at is not None
        assert row.end_reason == StreamSession.EndReason.SERVER_SHUTDOWN
    serving.refresh_from_db()
    assert serving.ended_at is None
    assert serving.end_reason == ""


def test_close_stale_reports_each_dead_process_once(dead_pid: int) -> None:
    live(here(dead_pid))
    live(here(dead_pid))
    live(here(dead_pid))

    output = run("close_stale_sessions")

    assert output.startswith("Closed 3 stale session(s) (1 dead process(es) on this host;")


def test_close_stale_ends_sessions_silent_for_too_long() -> None:
    silent = live(here(os.getpid()), silent_for=timedelta(minutes=10))
    elsewhere = live("some-other-host:1", silent_for=timedelta(minutes=10))
    recent = live("some-other-host:1", silent_for=timedelta(seconds=30))

    output = run("close_stale_sessions", "--silent-for", "5m")

    assert output.startswith("Closed 2 stale session(s) (0 dead process(es) on this host;")
    assert "silent for over 0:05:00" in output
    closed = StreamSession.objects.filter(end_reason=StreamSession.EndReason.SERVER_SHUTDOWN)
    assert set(closed.values_list("id", flat=True)) == {silent.id, elsewhere.id}
    recent.refresh_from_db()
    assert recent.is_live


def test_close_stale_leaves_a_recent_session_of_a_live_process_alone(dead_pid: int) -> None:
    serving = live(here(os.getpid()), silent_for=timedelta(seconds=5))
    # A pid on another host says nothing about this host's processes.
    remote = live(f"some-other-host:{dead_pid}", silent_for=timedelta(seconds=5))

    output = run("close_stale_sessions", "--silent-for", "1m")

    assert output.startswith("Closed 0 stale session(s)")
    assert StreamSession.objects.live().count() == 2
    for row in (serving, remote):
        row.refresh_from_db()
        assert row.ended_at is None


def test_close_stale_does_not_touch_sessions_that_already_ended(dead_pid: int) -> None:
    finished = ended(1, server=here(dead_pid))
    ended_at = finished.ended_at

    assert run("close_stale_sessions").startswith("Closed 0 stale session(s) (0 dead process(es)")
    finished.refresh_from_db()
    assert finished.ended_at == ended_at
    assert finished.end_reason == StreamSession.EndReason.COMPLETED


def test_close_stale_twice_closes_nothing_the_second_time(dead_pid: int) -> None:
    live(here(dead_pid))
    live(here(os.getpid()), silent_for=timedelta(hours=2))
    live(here(os.getpid()))

    assert run("close_stale_sessions", "--silent-for", "1h").startswith("Closed 2 stale session(s)")
    first = dict(StreamSession.objects.ended().values_list("id", "ended_at"))

    assert run("close_stale_sessions", "--silent-for", "1h").startswith("Closed 0 stale session(s)")
    assert dict(StreamSession.objects.ended().values_list("id", "ended_at")) == first
    assert StreamSession.objects.live().count() == 1


def test_close_stale_default_silence_is_at_least_a_minute() -> None:
    recent = live("some-other-host:1", silent_for=timedelta(seconds=45))
    silent = live("some-other-host:1", silent_for=timedelta(seconds=90))

    output = run("close_stale_sessions")

    assert "silent for over 0:01:00" in output
    recent.refresh_from_db()
    silent.refresh_from_db()
    assert recent.is_live
    assert not silent.is_live


def test_close_stale_refuses_a_malformed_duration() -> None:
    with pytest.raises(CommandError, match="is not a duration"):
        run("close_stale_sessions", "--silent-for", "soon")


@pytest.mark.parametrize(
    ("command", "option"), [("prune_sessions", "--older-than"), ("close_stale_sessions", "--silent-for")]
)
def test_a_bad_duration_on_the_command_line_is_a_usage_line_not_a_traceback(
    tmp_path: Path, command: str, option: str
) -> None:
    env = server_env(tmp_path / "db.sqlite3")
    done = manage(command, option, "7", env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("usage: manage.py " + command)
    error = done.stderr.strip().splitlines()[-1]
    assert error == (
        f"manage.py {command}: error: argument {option}: '7' is not a duration like 90s, 30m, 12h, 7d "
        "or 2w (a unit is required)"
    )
