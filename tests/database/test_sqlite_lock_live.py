"""SQLite's write lock held by an outside process for 5 s while streams open and close and events
are published: no stream waits on it, every publish succeeds late (within the busy timeout) and
is delivered once and in order, and every session row is written once when the lock goes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ..servers import daphne, postgres_mode, wait_for
from ..services import session_rows

# Slow: CI's PostgreSQL stage leaves it out rather than skip it (it is about the SQLite file).
pytestmark = [pytest.mark.live, pytest.mark.slow]

HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(5)  # the fault itself: the lock held this long
db.execute("COMMIT")
"""


def test_an_outside_process_holding_the_write_lock_for_5s_loses_nothing(tmp_path: Path) -> None:
    if postgres_mode():
        pytest.skip("about the SQLite file (PostgreSQL's outage is tests/database/test_postgres_live.py)")
    received: list[str] = []
    subscribed = threading.Event()

    with daphne(tmp_path) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        http.get("/")
        token = http.cookies["csrftoken"]

        def subscribe() -> None:
            with httpx.stream("GET", f"{server.url}/events/outage/", timeout=30) as stream:
                for line in stream.iter_lines():
                    if line == "event: stream-open":
                        subscribed.set()
                    elif line.startswith("data: {"):
                        received.append(json.loads(line[len("data: ") :])["text"])
                        if len(received) == 3:
                            return

        reader = threading.Thread(target=subscribe, daemon=True)
        reader.start()
        assert subscribed.wait(10)

        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, server.env["ECHO_SQLITE_PATH"]],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "locked\n"

            with ThreadPoolExecutor(3) as pool:
                publishes = [
                    pool.submit(
                        http.post,
                        "/events/outage/publish",
                        data={"text": f"during {n}"},
                        headers={"X-CSRFToken": token},
                    )
                    for n in range(3)
                ]
                # Streams need no database: five of them open and complete while the lock is held.
                for n in range(5):
                    done = httpx.get(
                        f"{server.url}/sse2",
                        params={"message": f"m{n}", "limit": 2, "interval": 0},
                        timeout=10,
                    )
                    assert done.text.count("event: echo") == 2
                assert holder.poll() is None, "the streams waited for the lock"
                answers = [future.result(timeout=30) for future in publishes]
            assert holder.wait(30) == 0
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
            assert holder.stdout is not None
            holder.stdout.close()

        # Each publish succeeded once the lock went: ids 1..3, each once; delivered once, in id order.
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        ids = {f"during {n}": answer.json()["id"] for n, answer in enumerate(answers)}
        assert sorted(ids.values()) == [1, 2, 3]
        reader.join(30)
        assert received == sorted(ids, key=ids.__getitem__)

        def rows() -> list[dict[str, object]]:
            return session_rows(server, "path = ?", ("/sse2",))

        wait_for(
            lambda: len(rows()) == 5 and all(row["ended_at"] for row in rows()), timeout=30, what="five rows"
        )
        assert sorted(str(row["query"]) for row in rows()) == sorted(
            f"message=m{n}&limit=2&interval=0" for n in range(5)
        )
        assert {row["end_reason"] for row in rows()} == {"completed"}
