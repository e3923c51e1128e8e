"""What must hold on PostgreSQL, against a real server (tests/postgres.py): concurrent publishers
in two processes, recording at 500 concurrent streams, the connections a server process holds, and
`prune_sessions` on 100,000 rows through its index.

These run in `make test` (a PostgreSQL server of their own) and not again in `make test-postgres`
(marked `postgres`), where the rest of the suite runs against PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from ..loops import run
from ..postgres import Postgres, postgres_for_test
from ..servers import ROOT, Server, daphne_command, free_port, migrate, running, server_env, wait_for

pytestmark = [pytest.mark.live, pytest.mark.postgres]

OUTAGE = 5.0  # seconds the database is down in the restart tests


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_for_test() as server:
        yield server


def database_env(postgres: Postgres, tmp_path: Path, **extra: str) -> dict[str, str]:
    """A new migrated database of its own on `postgres`, and the environment of a server using it."""
    name = f"echo_{tmp_path.name.replace('-', '_').lower()}"[:60]
    env = server_env(tmp_path / "db.sqlite3", DATABASE_URL=postgres.url(name), **extra)
    migrate(env)
    return env


def query(env: dict[str, str], sql: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as db:
        return db.execute(sql, params).fetchall()


def serve(env: dict[str, str], tmp_path: Path) -> AbstractContextManager[Server]:
    port = free_port()
    return running(daphne_command("127.0.0.1", port), tmp_path, host="127.0.0.1", port=port, env=env)


PUBLISHER = """
import json, os, sys, time, django
django.setup()
from echo.broadcast.publish import publish
from echo.demo.messages import ChatMessage, MessagePayload
name, rounds, per_round, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + 30
while not os.path.exists(go):  # both publishers start together (bounded)
    assert time.monotonic() < deadline, "no start signal"
    time.sleep(0.005)
out = []
for r in range(rounds):
    for n in range(per_round):
        text = f"{name}-{r}-{n}"
        out.append([f"race-{r}", publish(f"race-{r}", ChatMessage.create(MessagePayload(text=text))), text])
print(json.dumps(out))
"""


def test_two_processes_publishing_to_one_channel_at_once_number_every_event_once(
    postgres: Postgres, tmp_path: Path
) -> None:
    """100 rounds, one channel each, both processes publishing 5 events to it at the same time:
    no IntegrityError, ids 1..10 each once; live subscribers (32 channels each) get every event
    once and in order, and a later subscriber gets the next 32 channels replayed the same way."""
    rounds, per_round = 100, 5
    env = database_env(postgres, tmp_path)
    go = tmp_path / "go"
    live_channels = [f"race-{r}" for r in range(32)]
    replay_channels = [f"race-{r}" for r in range(40, 72)]

    with serve(env, tmp_path) as server:

        async def subscribe(
            channels: list[str], ready: asyncio.Event | None, headers: dict[str, str]
        ) -> dict[str, list[tuple[int, str]]]:
            got: dict[str, list[tuple[int, str]]] = {name: [] for name in channels}
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=60) as client,
                aconnect_sse(client, "GET", f"/events/{','.join(channels)}/", headers=headers) as source,
            ):
                assert source.response.status_code == 200
                events = source.aiter_sse()
                assert (await anext(events)).event == "stream-open"
                if ready is not None:
                    ready.set()
                while sum(map(len, got.values())) < len(channels) * 2 * per_round:
                    event = await anext(events)
                    channel = json.loads(event.data)["text"].split("-")[1]
                    ids = dict(part.rsplit(":", 1) for part in event.id.split(","))
                    name = f"race-{channel}"
                    got[name].append((int(ids[name]), json.loads(event.data)["text"]))
            return got

        async def main() -> tuple[list[dict[str, list[tuple[int, str]]]], list[list[Any]]]:
            readies = [asyncio.Event() for _ in range(3)]
            readers = [asyncio.create_task(subscribe(live_channels, ready, {})) for ready in readies]
            async with asyncio.timeout(30):
                await asyncio.gather(*(ready.wait() for ready in readies))
            publishers = [
                await asyncio.create_subprocess_exec(
                    sys.executable, "-c", PUBLISHER, name, str(rounds), str(per_round), str(go),
                    cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                )
                for name in ("a", "b")
            ]  # fmt: skip
            go.touch()
            outputs = []
            async with asyncio.timeout(120):
                for publisher in publishers:
                    out, err = await publisher.communicate()
                    assert publisher.returncode == 0, err.decode()
                    outputs.extend(json.loads(out))
                got = await asyncio.gather(*readers)
            headers = {"Last-Event-ID": ",".join(f"{name}:0" for name in replay_channels)}
            async with asyncio.timeout(60):
                got.append(await subscribe(replay_channels, None, headers))
            return got, outputs

        subscribers, published = run(main())
        log = server.log()

    by_channel: dict[str, list[tuple[int, str]]] = {}
    for channel, event_id, text in published:
        by_channel.setdefault(channel, []).append((event_id, text))
    assert len(by_channel) == rounds
    for channel, events in by_channel.items():
        assert sorted(event_id for event_id, _ in events) == list(range(1, 2 * per_round + 1)), channel
    for got in subscribers:
        for channel, events in got.items():
            assert events == sorted(by_channel[channel]), channel  # every event once, in id order
    stored = query(
        env,
        "SELECT channel, count(*), count(DISTINCT eid), max(eid) FROM django_eventstream_event"
        " WHERE eid > 0 GROUP BY channel",
    )
    assert {row[0]: row[1:] for row in stored} == {f"race-{r}": (10, 10, 10) for r in range(rounds)}
    assert "Traceback" not in log, log


def test_recording_500_concurrent_streams_writes_each_row_once_with_bounded_connections(
    postgres: Postgres, tmp_path: Path
) -> None:
    count = 500
    env = database_env(postgres, tmp_path, ECHO_TEST_SETTINGS=json.dumps({"MAX_STREAMS_PER_CLIENT": 1000}))
    database = env["DATABASE_URL"].rsplit("/", 1)[1]

    def connections() -> int:
        return int(
            query(
                env,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                database,
            )[0][0]
        )

    with serve(env, tmp_path) as server:
        held: list[int] = []

        async def main() -> None:
            limits = httpx.Limits(max_connections=count + 10)
            async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
                opened = 0
                release = asyncio.Event()

                async def one(k: int) -> None:
                    nonlocal opened
                    params = {"message": f"m{k}", "interval": "3600"}
                    async with client.stream("GET", "/sse2", params=params) as response:
                        assert response.status_code == 200
                        opened += 1
                        await release.wait()

                tasks = [asyncio.create_task(one(k)) for k in range(count)]
                async with asyncio.timeout(60):
                    while opened < count:
                        await asyncio.sleep(0.05)
                rows = await asyncio.to_thread(
                    wait_for,
                    lambda: (
                        query(env, "SELECT count(*) FROM echo_sessions_streamsession WHERE ended_at IS NULL")[
                            0
                        ][0]
                        == count
                    ),
                    timeout=60,
                    what="500 live rows",
                )
                assert rows
                held.append(connections())
                release.set()
                await asyncio.gather(*tasks)

        run(main())
        wait_for(
            lambda: (
                query(env, "SELECT count(*) FROM echo_sessions_streamsession WHERE ended_at IS NOT NULL")[0][
                    0
                ]
                == count
            ),
            timeout=60,
            what="500 ended rows",
        )
        log = server.log()

    total, distinct, reasons = query(
        env,
        "SELECT count(*), count(DISTINCT id), array_agg(DISTINCT end_reason)"
        " FROM echo_sessions_streamsession",
    )[0]
    assert (total, distinct, reasons) == (count, count, ["client_disconnected"])
    # With 500 streams open: the session writer's connection, the notification listener's, at most
    # one more (a request or the storage poll in flight); streams hold none.
    assert held[0] <= 3, held
    assert "ERROR" not in log, log
    assert "Traceback" not in log, log


def test_prune_sessions_deletes_100000_rows_through_the_ended_at_index(
    postgres: Postgres, tmp_path: Path
) -> None:
    env = database_env(postgres, tmp_path)
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as db:
        db.execute(
            """
            INSERT INTO echo_sessions_streamsession
                (id, stream, path, query, client, user_agent, started_at, ended_at, last_seen_at,
                 end_reason, error, events_sent, bytes_sent, last_event_id, server)
            SELECT gen_random_uuid(), 'echo', '/sse2', '', '127.0.0.1', '', now() - interval '30 days',
                   now() - (n % 20 || ' days')::interval, now(), 'completed', '', 1, 10, '0', 'bench'
            FROM generate_series(1, 100000) AS n
            """
        )
        db.execute("ANALYZE echo_sessions_streamsession")
        plan = "\n".join(
            row[0]
            for row in db.execute(
                "EXPLAIN DELETE FROM echo_sessions_streamsession WHERE ended_at < now() - interval '18 days'"
            ).fetchall()
        )
    done = subprocess.run(
        [sys.executable, "manage.py", "prune_sessions", "--older-than", "18d"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Deleted 10000 session(s)"), done.stdout
    assert "Index" in plan, plan
    assert "ended_at" in plan, plan
    assert query(env, "SELECT count(*) FROM echo_sessions_streamsession")[0][0] == 90000


def test_with_database_url_the_demo_keeps_its_rows_in_postgres_not_sqlite(
    postgres: Postgres, tmp_path: Path
) -> None:
    env = database_env(postgres, tmp_path)
    sqlite_path = Path(env["ECHO_SQLITE_PATH"])
    with serve(env, tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            client.get("/sse2", params={"message": "pg", "interval": "0", "limit": "3"}).raise_for_status()
        command = [sys.executable, "manage.py", "publish", "demo", "chat_message", '{"text": "in postgres"}']
        published = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert published.returncode == 0, published.stderr
        wait_for(
            lambda: (
                query(env, "SELECT count(*) FROM echo_sessions_streamsession WHERE ended_at IS NOT NULL")[0][
                    0
                ]
                >= 1
            ),
            what="the session row in PostgreSQL",
        )

    (row,) = query(env, "SELECT path, events_sent, end_reason FROM echo_sessions_streamsession")
    assert row == ("/sse2", 3, "completed")
    (event,) = query(env, "SELECT channel, eid, type FROM django_eventstream_event WHERE eid > 0")
    assert event == ("demo", 1, "chat_message")
    assert not sqlite_path.exists()


STEADY_PUBLISHER = """
import json, os, sys, time, django
django.setup()
from django.db import close_old_connections
from echo.broadcast.publish import publish
from echo.demo.messages import ChatMessage, MessagePayload
out, stop = open(sys.argv[1], "a", buffering=1), sys.argv[2]
deadline = time.monotonic() + 90
for n in range(3000):  # bounded in count and time, and stopped by the test's file
    if os.path.exists(stop) or time.monotonic() > deadline:
        break
    try:
        event_id = publish("restart", ChatMessage.create(MessagePayload(text=str(n))))
        out.write(json.dumps({"n": n, "id": event_id}) + "\\n")
    except Exception as exc:
        out.write(json.dumps({"n": n, "error": type(exc).__module__ + "." + type(exc).__name__}) + "\\n")
    finally:
        close_old_connections()  # as at a request's end: a broken connection is let go
    time.sleep(0.02)  # the publishing rate, not a wait for a condition
"""


def test_a_database_restart_mid_stream_loses_no_acknowledged_event_and_no_row(
    postgres: Postgres, tmp_path: Path
) -> None:
    """PostgreSQL stopped (fast shutdown) and started again while streams run, open and close and a
    third process publishes: streams never wait on it; every publish it acknowledged reaches the
    subscriber once and in order; a publish during the outage fails with the driver's error; every
    stream's row is written once, ended, after the database is back."""
    env = database_env(postgres, tmp_path, ECHO_TEST_SETTINGS=json.dumps({"BROADCAST_POLL_INTERVAL": 0.2}))
    results, stop = tmp_path / "published.jsonl", tmp_path / "stop"

    def published() -> list[dict[str, Any]]:
        lines = results.read_text().splitlines() if results.exists() else []
        return [json.loads(line) for line in lines if line.endswith("}")]

    with serve(env, tmp_path) as server:
        received: list[int] = []
        counts: dict[int, int] = {}

        async def hold(client: httpx.AsyncClient, k: int, opened: asyncio.Event) -> None:
            params = {"message": f"m{k}", "interval": "0.05"}
            async with aconnect_sse(client, "GET", "/sse2", params=params) as source:
                assert source.response.status_code == 200
                async for _ in source.aiter_sse():
                    counts[k] = counts.get(k, 0) + 1
                    opened.set()

        async def subscribe(client: httpx.AsyncClient, ready: asyncio.Event) -> None:
            async with aconnect_sse(client, "GET", "/events/restart/") as source:
                async for event in source.aiter_sse():
                    if event.event == "stream-open":
                        ready.set()
                    elif event.event == "chat_message":
                        received.append(int(event.id.rsplit(":", 1)[-1]))

        async def until(condition: Any, what: str, timeout: float = 30) -> None:
            deadline = time.monotonic() + timeout
            while not condition():
                if time.monotonic() > deadline:
                    publisher_log = (tmp_path / "publisher.log").read_text(errors="replace")
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{publisher_log}")
                await asyncio.sleep(0.02)  # polling with the deadline above

        async def main() -> subprocess.Popen[bytes]:
            limits = httpx.Limits(max_connections=50)
            async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
                await client.get("/")  # the CSRF cookie, for a publish over HTTP during the outage
                csrf = {"X-CSRFToken": client.cookies["csrftoken"]}
                ready = asyncio.Event()
                reader = asyncio.create_task(subscribe(client, ready))
                async with asyncio.timeout(30):
                    await ready.wait()
                streams: dict[int, asyncio.Task[None]] = {}

                async def open_stream(k: int) -> None:
                    opened = asyncio.Event()
                    streams[k] = asyncio.create_task(hold(client, k, opened))
                    async with asyncio.timeout(10):
                        await opened.wait()

                for k in range(10):
                    await open_stream(k)
                with (tmp_path / "publisher.log").open("wb") as log:
                    publisher = subprocess.Popen(
                        [sys.executable, "-c", STEADY_PUBLISHER, str(results), str(stop)],
                        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                    )  # fmt: skip
                try:
                    await until(lambda: len(received) >= 5, "events before the outage")

                    await asyncio.to_thread(postgres.stop)
                    down_at = time.monotonic()
                    # While it is down: streams go on, some end, new ones open and stream.
                    for k in range(5):
                        streams.pop(k).cancel()
                    for k in range(10, 15):
                        await open_stream(k)
                    before = dict(counts)
                    await until(lambda: all(counts[k] >= before[k] + 3 for k in streams), "streams to go on")
                    await until(lambda: any("error" in r for r in published()), "a publish to fail")
                    # Over HTTP: a JSON 503 the client may retry on, not a 500 page.
                    refused = await client.post("/events/restart/publish", data={"text": "x"}, headers=csrf)
                    assert refused.status_code == 503, refused.text
                    assert refused.json()["error"] == "storage_unavailable"
                    assert refused.headers["Retry-After"] == "5"
                    # The fault itself lasts at least 5 s, whatever the checks above took.
                    await asyncio.sleep(max(0.0, down_at + OUTAGE - time.monotonic()))
                    await asyncio.to_thread(postgres.start)

                    failed_at = next(r["n"] for r in published() if "error" in r)
                    later = lambda: sum(r["n"] > failed_at and "id" in r for r in published())  # noqa: E731
                    await until(lambda: later() >= 10, "publishes after the restart")
                finally:
                    stop.touch()  # the publisher stops by itself, also when an assertion failed
                    await asyncio.to_thread(publisher.wait, 30)
                acknowledged = [r["id"] for r in published() if "id" in r]
                await until(lambda: set(acknowledged) <= set(received), "every acknowledged event")
                for task in [*streams.values(), reader]:
                    task.cancel()
                await asyncio.gather(*streams.values(), reader, return_exceptions=True)
                return publisher

        publisher = run(main())
        assert publisher.returncode == 0
        wait_for(
            lambda: (
                query(env, "SELECT count(*) FROM echo_sessions_streamsession WHERE ended_at IS NOT NULL")[0][
                    0
                ]
                >= 16
            ),
            timeout=60,
            what="every stream's row, ended",
        )
        log = server.log()

    outcomes = published()
    errors = {r["error"] for r in outcomes if "error" in r}
    assert errors == {"django.db.utils.OperationalError"}, errors
    acknowledged = [r["id"] for r in outcomes if "id" in r]
    assert acknowledged == sorted(set(acknowledged))
    assert received == sorted(set(received)), "an event twice or out of order"
    assert set(acknowledged) <= set(received)
    stored = [
        row[0] for row in query(env, "SELECT eid FROM django_eventstream_event WHERE channel = 'restart'")
    ]
    assert set(received) <= set(stored)
    rows = query(
        env,
        "SELECT count(*), count(DISTINCT id), count(ended_at), array_agg(DISTINCT path)"
        " FROM echo_sessions_streamsession",
    )[0]
    assert rows == (16, 16, 16, ["/events/restart/", "/sse2"]), rows
    assert "Session write succeeded after" in log, log
    # Events reach this process again through the poll or the notifications, whichever is back first.
    again = ("Polling storage again", "Listening to PostgreSQL notifications again")
    recovered = max(log.rfind(line) for line in again)
    assert recovered > 0, log
    assert "Traceback" not in log[recovered:], log  # nothing after it recovered


NOTIFYING_PUBLISHER = """
import json, os, sys, time, django
django.setup()
from django.db import close_old_connections
from echo.broadcast.publish import publish
from echo.demo.messages import ChatMessage, MessagePayload
out, stop = open(sys.argv[1], "a", buffering=1), sys.argv[2]
deadline = time.monotonic() + 90
for n in range(3000):  # bounded in count and time, and stopped by the test's file
    if os.path.exists(stop) or time.monotonic() > deadline:
        break
    # Every seventh event is larger than a notification may carry (8000 bytes): only its id travels.
    text = "\u00e9" * 4500 if n % 7 == 3 else str(n)
    try:
        event_id = publish("notified", ChatMessage.create(MessagePayload.model_construct(text=text)))
        out.write(json.dumps({"n": n, "id": event_id, "size": len(text)}) + "\\n")
    except Exception as exc:
        out.write(json.dumps({"n": n, "error": type(exc).__module__ + "." + type(exc).__name__}) + "\\n")
    finally:
        close_old_connections()
    time.sleep(0.02)  # the publishing rate, not a wait for a condition
"""


def test_notifications_carry_events_between_processes_and_survive_a_database_restart(
    postgres: Postgres, tmp_path: Path
) -> None:
    """The storage poll off: an event published in another process reaches the subscriber only by
    LISTEN/NOTIFY (or, too large to carry, by its id and a read of storage). PostgreSQL restarted
    in the middle: the listener says so once, connects again by itself, and catches up what was
    stored while it was away; every acknowledged event arrives once, in order."""
    env = database_env(postgres, tmp_path, ECHO_TEST_SETTINGS=json.dumps({"BROADCAST_POLL_INTERVAL": None}))
    results, stop = tmp_path / "published.jsonl", tmp_path / "stop"

    def published() -> list[dict[str, Any]]:
        lines = results.read_text().splitlines() if results.exists() else []
        return [json.loads(line) for line in lines if line.endswith("}")]

    with serve(env, tmp_path) as server:
        received: list[tuple[int, int]] = []

        async def subscribe(client: httpx.AsyncClient, ready: asyncio.Event) -> None:
            async with aconnect_sse(client, "GET", "/events/notified/") as source:
                async for event in source.aiter_sse():
                    if event.event == "stream-open":
                        ready.set()
                    elif event.event == "chat_message":
                        size = len(json.loads(event.data)["text"])
                        received.append((int(event.id.rsplit(":", 1)[-1]), size))

        async def until(condition: Any, what: str, timeout: float = 30) -> None:
            deadline = time.monotonic() + timeout
            while not condition():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{server.log()}")
                await asyncio.sleep(0.02)  # polling with the deadline above

        async def main() -> subprocess.Popen[bytes]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                ready = asyncio.Event()
                reader = asyncio.create_task(subscribe(client, ready))
                async with asyncio.timeout(30):
                    await ready.wait()
                with (tmp_path / "publisher.log").open("wb") as log:
                    publisher = subprocess.Popen(
                        [sys.executable, "-c", NOTIFYING_PUBLISHER, str(results), str(stop)],
                        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                    )  # fmt: skip
                try:
                    await until(lambda: sum(size > 1000 for _, size in received) >= 2, "large events")
                    await asyncio.to_thread(postgres.stop)
                    await until(lambda: any("error" in r for r in published()), "a publish to fail")
                    await asyncio.to_thread(postgres.start)
                    failed_at = next(r["n"] for r in published() if "error" in r)
                    later = lambda: sum(r["n"] > failed_at and "id" in r for r in published())  # noqa: E731
                    await until(lambda: later() >= 20, "publishes after the restart")
                finally:
                    stop.touch()
                    await asyncio.to_thread(publisher.wait, 30)
                acknowledged = {r["id"] for r in published() if "id" in r}
                await until(lambda: acknowledged <= {i for i, _ in received}, "every acknowledged event")
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                return publisher

        publisher = run(main())
        log = server.log()

    assert publisher.returncode == 0
    ids = [i for i, _ in received]
    assert ids == sorted(set(ids)), "an event twice or out of order"
    sizes = {r["id"]: r["size"] for r in published() if "id" in r}
    assert all(size == sizes[i] for i, size in received if i in sizes)
    assert "Broadcast mode: PostgreSQL LISTEN/NOTIFY" in log, log
    assert log.count("Lost PostgreSQL notifications") == 1, log
    assert "Listening to PostgreSQL notifications again" in log, log
