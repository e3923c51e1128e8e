"""Concurrent publishers never share an id (issue 30): two processes of four threads each, publishing
single events and batches to one new channel at once, against the suite's database (a SQLite file in
WAL mode with IMMEDIATE transactions under `make test`, PostgreSQL under `make test-postgres`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ..servers import ROOT, migrate, run_python, server_env

pytestmark = pytest.mark.live

THREADS = 4
ROUNDS = 12  # per thread: even rounds one event, odd rounds a batch of BATCH
BATCH = 3

PUBLISHER = """
import json, os, sys, threading, time, django
django.setup()
from django.db import connection
from echo.broadcast.publish import publish, publish_many
from echo.demo.messages import ChatMessage, MessagePayload
name, channel, threads, rounds, batch, go = sys.argv[1:3] + [int(a) for a in sys.argv[3:6]] + sys.argv[6:]
deadline = time.monotonic() + 30
while not os.path.exists(go):  # both processes start together (bounded)
    assert time.monotonic() < deadline, "no start signal"
    time.sleep(0.005)
published, errors = [], []
def work(thread):
    try:
        for r in range(rounds):
            label = f"{name}-{thread}-{r}"
            if r % 2:
                found = [f"{label}-{k}" for k in range(batch)]
                ids = publish_many(channel, [ChatMessage.create(MessagePayload(text=t)) for t in found])
            else:
                found = [label]
                ids = [publish(channel, ChatMessage.create(MessagePayload(text=label)))]
            published.extend(zip(ids, found))
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()
workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join(60)
assert not errors, errors
assert not any(worker.is_alive() for worker in workers), "a publisher thread hung"
print(json.dumps(published))
"""

READER = """
import json, sys, django
django.setup()
from echo.broadcast.storage import get_storage
storage = get_storage()
events = [[e.id, json.loads(e.data)["text"]] for e in storage.get_events(sys.argv[1], 0, limit=100000)]
print(json.dumps(events + [storage.get_current_id(sys.argv[1])]))
"""


def test_two_processes_of_four_threads_publishing_at_once_never_share_an_id(tmp_path: Path) -> None:
    env = server_env(tmp_path / "db.sqlite3")
    migrate(env)
    go = tmp_path / "go"
    channel = "contended"
    args = [channel, str(THREADS), str(ROUNDS), str(BATCH), str(go)]
    publishers = [
        subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, name, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    go.touch()
    published: list[list[object]] = []
    for publisher in publishers:
        out, err = publisher.communicate(timeout=90)
        assert publisher.returncode == 0, err
        published.extend(json.loads(out))

    per_process = THREADS * (ROUNDS // 2) * (1 + BATCH)
    total = 2 * per_process
    assert sorted(event_id for event_id, _ in published) == list(range(1, total + 1))  # type: ignore[type-var]
    *stored, current = json.loads(run_python("-c", READER, channel, env=env))
    assert current == total
    # Each id holds the very event its publisher was told it got.
    assert sorted(map(tuple, stored)) == sorted(map(tuple, published))
