"""A server started on a database where `manage.py migrate` was not run says so at start-up, and
its streams are served all the same."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from echo.sessions.schema import unapplied_migrations

from ..servers import Server, daphne_command, free_port, running, server_env, wait_for

pytestmark = pytest.mark.live

LINE = (
    "ERROR echo.sessions: Stream sessions are not recorded: database 'default' lacks migration(s) "
    "echo_sessions.0001_initial, echo_sessions.0002_end_reason_fell_behind; run manage.py migrate"
)
BROADCAST_LINE = (
    "ERROR echo.broadcast: Broadcast events cannot be stored or read: database 'default' lacks "
    "migration(s) django_eventstream.0001_initial"
)


def test_a_server_on_an_unmigrated_database_logs_one_error_line_and_still_streams(tmp_path: Path) -> None:
    env = server_env(tmp_path / "fresh.sqlite3")  # never migrated
    if env.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("a fresh SQLite file is the case; the PostgreSQL run's databases are migrated")
    port = free_port()
    with running(daphne_command("127.0.0.1", port), tmp_path, host="127.0.0.1", port=port, env=env) as server:
        wait_for(lambda: LINE in server.log(), what="the start-up line")
        wait_for(lambda: BROADCAST_LINE in server.log(), what="broadcast's start-up line")
        with (
            httpx.Client(base_url=server.url, timeout=10) as client,
            connect_sse(
                client, "GET", "/sse2", params={"message": "hi", "limit": 3, "interval": 0}
            ) as source,
        ):
            assert [event.id for event in source.iter_sse()] == ["0", "1", "2", "2"]  # then `completed`
        # The writer's own line says the same, without a traceback, and does not wait as for an outage.
        wait_for(lambda: "change(s) dropped: no such table" in server.log(), what="the writer's line")
        assert server.log().count(LINE) == 1
        assert "Traceback" not in server.log(), server.log()
        assert "retrying until the database answers" not in server.log()


def test_a_migrated_server_says_nothing_of_migrations(fresh_daphne: Server) -> None:
    httpx.get(f"{fresh_daphne.url}/sse2", params={"message": "hi", "limit": 1}, timeout=10)
    assert "lacks migration" not in fresh_daphne.log()
    assert "Broadcast mode:" in fresh_daphne.log()  # broadcast's report ran, and found nothing missing


@pytest.mark.django_db
def test_unapplied_migrations_of_the_test_database_is_none() -> None:
    assert unapplied_migrations("echo_sessions") == []
