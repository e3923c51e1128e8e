"""Stream sessions recorded by real Daphne processes, read back from their SQLite files.

Rows are read with `sqlite3` from the server's own database file, polling with a deadline: the
recorder writes from a thread of its own, a moment after the stream opens or ends.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse, connect_sse

from ..loops import run
from ..servers import Server, admin_login, daphne, run_python, wait_for
from ..services import session_rows

pytestmark = pytest.mark.live

USER_AGENT = "echo-live-tests/1.0"
STREAMS = 500
BURST_SIZES = 7  # burst clients read 1..7 events, so every count is checked, not just one


def row_for(server: Server, token: str) -> dict[str, Any]:
    """The session row of the stream opened with `tag=...` in its query; {} before it exists."""
    rows = session_rows(server, "query LIKE ?", (f"%tag={token}%",))
    assert len(rows) <= 1, rows
    return rows[0] if rows else {}


def ended_row(server: Server, token: str, timeout: float = 10.0) -> dict[str, Any]:
    def ended() -> dict[str, Any]:
        row = row_for(server, token)
        return row if row and row["ended_at"] is not None else {}

    return wait_for(ended, timeout=timeout, what=f"the session row of {token} to end")


def live_row(server: Server, token: str) -> dict[str, Any]:
    return wait_for(lambda: row_for(server, token), what=f"the session row of {token}")


@pytest.fixture
def client(live_server_process: Server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=live_server_process.url, timeout=10, headers={"User-Agent": USER_AGENT}
    ) as client:
        yield client


def test_stream_that_reaches_its_limit_is_recorded_as_completed_with_exact_counts(
    live_server_process: Server, client: httpx.Client
) -> None:
    token = uuid.uuid4().hex
    params = {"message": "hi", "interval": 0, "limit": 3, "tag": token}
    with connect_sse(client, "GET", "/sse2", params=params) as source:
        events = list(source.iter_sse())
        received = source.response.num_bytes_downloaded
        query = source.response.request.url.query.decode()

    row = ended_row(live_server_process, token)
    assert [(e.event, e.id) for e in events] == [
        ("echo", "0"),
        ("echo", "1"),
        ("echo", "2"),
        ("completed", "2"),
    ]
    assert row["stream"] == "echo"
    assert row["path"] == "/sse2"
    assert row["query"] == query
    assert row["client"] == "127.0.0.1"
    assert row["user_agent"] == USER_AGENT
    assert row["user_id"] is None
    assert row["events_sent"] == 3
    assert row["bytes_sent"] == received > 0
    assert row["last_event_id"] == "2"
    assert row["end_reason"] == "completed"
    assert row["error"] == ""
    assert row["server"].endswith(f":{live_server_process.pid}")
    assert row["started_at"] <= row["ended_at"]


def test_merged_stream_is_named_after_its_event_types_in_order(
    live_server_process: Server, client: httpx.Client
) -> None:
    token = uuid.uuid4().hex
    params = {"message": "abc", "interval": 0.02, "limit": 4, "tag": token}
    with connect_sse(client, "GET", "/sse3", params=params) as source:
        events = list(source.iter_sse())
        received = source.response.num_bytes_downloaded

    row = ended_row(live_server_process, token)
    assert events[0].event == "echo"
    assert {e.event for e in events[:-1]} == {"echo", "reverse_echo"}
    assert row["stream"] == "echo+reverse_echo"
    assert row["path"] == "/sse3"
    assert events[-1].event == "completed"  # counted as bytes, not as an event of the stream's
    assert row["events_sent"] == len(events) - 1 == 4
    assert row["bytes_sent"] == received
    assert row["end_reason"] == "completed"


def test_client_that_goes_away_is_recorded_as_client_disconnected(
    live_server_process: Server, client: httpx.Client
) -> None:
    token = uuid.uuid4().hex
    params = {"message": "bye", "interval": 0.02, "tag": token}
    with connect_sse(client, "GET", "/sse2", params=params) as source:
        events = source.iter_sse()
        read = [next(events), next(events)]
        live_row(live_server_process, token)

    row = ended_row(live_server_process, token)
    assert [e.id for e in read] == ["0", "1"]
    assert row["end_reason"] == "client_disconnected"
    # The server may have sent a few more than the client read before it noticed.
    assert row["events_sent"] >= 2
    assert int(row["last_event_id"]) == row["events_sent"] - 1
    assert row["error"] == ""


async def _read_until_limit(client: httpx.AsyncClient, token: str, all_open: asyncio.Barrier) -> int:
    params = {"message": "x", "interval": 0.01, "limit": 5, "tag": token}
    async with aconnect_sse(client, "GET", "/sse2", params=params) as source:
        events = source.aiter_sse()
        try:
            read = [await anext(events)]
            await all_open.wait()
            read += [event async for event in events]
        finally:
            await events.aclose()
    assert read[-1].event == "completed"
    return len(read) - 1


async def _read_then_leave(client: httpx.AsyncClient, token: str, n: int, all_open: asyncio.Barrier) -> int:
    read = 0
    async with aconnect_sse(client, "GET", "/_probe/burst", params={"n": n, "tag": token}) as source:
        events = source.aiter_sse()
        try:
            async for _ in events:
                read += 1
                if read == n:
                    break
        finally:
            await events.aclose()
        await all_open.wait()  # every client holds its connection here, then half leave at once
    return read


async def _open_all(url: str, tokens: list[str]) -> list[int]:
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=0)
    all_open = asyncio.Barrier(len(tokens))

    async def read(http: httpx.AsyncClient, i: int, token: str) -> int:
        try:
            if i % 2 == 0:
                return await _read_until_limit(http, token, all_open)
            return await _read_then_leave(http, token, burst(i), all_open)
        except BaseException:
            await all_open.abort()  # the others would wait for this one forever
            raise

    async with (
        asyncio.timeout(60),
        httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http,
    ):
        return await asyncio.gather(*(read(http, i, token) for i, token in enumerate(tokens)))


def burst(i: int) -> int:
    return 1 + i % BURST_SIZES


@pytest.fixture
def uncapped_daphne(tmp_path: Path) -> Iterator[Server]:
    """500 streams from one address: more than `MAX_STREAMS_PER_CLIENT` allows by default."""
    with daphne(tmp_path, ECHO_TEST_SETTINGS='{"MAX_STREAMS_PER_CLIENT": null}') as server:
        yield server


@pytest.mark.slow
def test_500_concurrent_streams_are_each_recorded_with_their_end_reason_and_exact_count(
    uncapped_daphne: Server,
) -> None:
    tokens = [f"s{i:03d}x" for i in range(STREAMS)]
    reads = run(_open_all(uncapped_daphne.url, tokens))
    assert reads == [5 if i % 2 == 0 else burst(i) for i in range(STREAMS)]

    def all_ended() -> list[dict[str, Any]]:
        rows = session_rows(uncapped_daphne, "ended_at IS NOT NULL")
        return rows if len(rows) == STREAMS else []

    rows = wait_for(all_ended, timeout=30, what=f"{STREAMS} ended session rows")
    by_token = {row["query"].split("tag=")[1].split("&")[0]: row for row in rows}
    assert sorted(by_token) == tokens
    wrong = []
    for i, token in enumerate(tokens):
        row = by_token[token]
        if i % 2 == 0:
            expected = ("/sse2", "echo", "completed", 5, "4")
        else:
            expected = ("/_probe/burst", "burst", "client_disconnected", burst(i), str(burst(i) - 1))
        got = (row["path"], row["stream"], row["end_reason"], row["events_sent"], row["last_event_id"])
        if got != expected:
            wrong.append((token, got, expected))
    assert wrong == []
    log = uncapped_daphne.log()
    assert "database is locked" not in log
    assert "Could not record stream sessions" not in log
    assert "Traceback" not in log, log


def test_live_session_row_shows_progress_while_the_stream_runs(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    with (
        daphne(tmp_path, settings="tests.settings_fast") as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
        connect_sse(
            client, "GET", "/sse2", params={"message": "p", "interval": 0.02, "tag": token}
        ) as source,
    ):
        events = source.iter_sse()
        seen: list[int] = []

        def moved_twice() -> bool:
            next(events)  # keep reading, so the server keeps sending
            row = row_for(server, token)
            if row:
                assert row["ended_at"] is None, row
                assert row["end_reason"] == ""
                if row["events_sent"] and (not seen or row["events_sent"] > seen[-1]):
                    seen.append(row["events_sent"])
            return len(seen) >= 3

        wait_for(moved_twice, timeout=15, what="events_sent of a live row to grow twice")
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen) >= 3


def test_close_stale_sessions_ends_the_rows_of_a_killed_server(tmp_path: Path) -> None:
    with daphne(tmp_path) as server, ExitStack() as streams:
        client = streams.enter_context(httpx.Client(base_url=server.url, timeout=10))
        with connect_sse(client, "GET", "/sse2", params={"message": "m", "interval": 0, "limit": 2}) as done:
            list(done.iter_sse())
        tokens = [uuid.uuid4().hex for _ in range(3)]
        readers = []  # a dropped reader closes its response: keep them until the server is gone
        for token in tokens:
            params = {"message": "m", "interval": 0.05, "tag": token}
            source = streams.enter_context(connect_sse(client, "GET", "/sse2", params=params))
            readers.append(source.iter_sse())
            next(readers[-1])
        for token in tokens:
            live_row(server, token)
        wait_for(lambda: len(session_rows(server, "end_reason = 'completed'")) == 1, what="completed row")

        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        assert [row["ended_at"] for row in session_rows(server, "end_reason = ''")] == [None] * 3

        out = run_python("manage.py", "close_stale_sessions", env=server.env)
        assert "Closed 3 stale session(s)" in out, out

        rows = session_rows(server)
        assert sorted(row["end_reason"] for row in rows) == ["completed", *["server_shutdown"] * 3]
        assert all(row["ended_at"] is not None for row in rows)


CREATE_USER = """
from django.contrib.auth.models import User
print(User.objects.create_user("carol", password="pw-carol-5117", is_staff=True).pk)
"""


def test_a_logged_in_users_live_stream_is_recorded_as_that_user(live_server_process: Server) -> None:
    server = live_server_process
    output = run_python("manage.py", "shell", "-c", CREATE_USER, env=server.env)
    user_id = int(output.strip().splitlines()[-1])  # Django 5.2's shell may say what it imported
    token = uuid.uuid4().hex
    with httpx.Client(base_url=server.url, timeout=10) as client:
        admin_login(client, "carol", "pw-carol-5117")
        params = {"message": "mine", "interval": 0.05, "tag": token}
        with connect_sse(client, "GET", "/sse2", params=params) as source:
            events = source.iter_sse()  # kept: a dropped iterator closes the response
            next(events)
            row = live_row(server, token)  # while the stream is live
    assert row["ended_at"] is None, row
    assert row["user_id"] == user_id
    anonymous = uuid.uuid4().hex
    with (
        httpx.Client(base_url=server.url, timeout=10) as client,
        connect_sse(client, "GET", "/sse2", params={"message": "x", "limit": 1, "tag": anonymous}) as source,
    ):
        list(source.iter_sse())
    assert ended_row(server, anonymous)["user_id"] is None
