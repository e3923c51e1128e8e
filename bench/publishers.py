"""Concurrent publishers: K processes publishing to one channel at once, on SQLite and PostgreSQL.

    .venv/bin/python bench/publishers.py [--events 500] [--processes 1,2,4]

Each process (`manage.py shell`-like: Django set up, `echo.broadcast.publish`) publishes
`--events` events to the same channel as fast as it can, all starting together. Reported per
database and process count: events stored per second over all processes, the median and p99 time
of one `publish()` call, errors, and whether the stored ids are exactly 1..N once each.
PostgreSQL is Debian's server, started as the suite starts it (tests/postgres.py). Results go to
bench/out/publishers.md (and standard output).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, os, sys, time, django
django.setup()
from echo.broadcast.publish import publish
from echo.demo.messages import ChatMessage, MessagePayload
count, go = int(sys.argv[1]), sys.argv[2]
open(f"{go}.ready.{os.getpid()}", "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(go):  # every publisher starts together (bounded)
    assert time.monotonic() < deadline, "no start signal"
    time.sleep(0.001)
calls, ids, errors = [], [], []
for n in range(count):
    started = time.perf_counter()
    try:
        ids.append(publish("demo", ChatMessage.create(MessagePayload(text=str(n)))))
    except Exception as exc:
        errors.append(type(exc).__name__ + ": " + str(exc)[:100])
    calls.append(time.perf_counter() - started)
print(json.dumps({"calls": calls, "ids": ids, "errors": errors, "end": time.time()}))
"""


def one_round(env: dict[str, str], processes: int, events: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        go = Path(folder) / "go"
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, str(events), str(go)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        deadline = time.monotonic() + 60
        while len(list(Path(folder).glob("go.ready.*"))) < processes:  # each has set Django up
            if time.monotonic() > deadline:
                raise RuntimeError("publishers not ready after 60 s")
            time.sleep(0.01)  # polling with the deadline above
        started = time.time()
        go.touch()
        outputs = []
        for child in children:
            out, err = child.communicate(timeout=600)
            if child.returncode != 0:
                raise RuntimeError(err)
            outputs.append(json.loads(out))
    seconds = max(o["end"] for o in outputs) - started
    calls = sorted(c * 1000 for o in outputs for c in o["calls"])
    ids = sorted(i for o in outputs for i in o["ids"] if i is not None)
    errors = [e for o in outputs for e in o["errors"]]
    return {
        "events/s": len(ids) / seconds,
        "publish p50 ms": statistics.median(calls),
        "publish p99 ms": calls[min(len(calls) - 1, int(len(calls) * 0.99))],
        "errors": len(errors),
        "first error": errors[0] if errors else "",
        "ids 1..N once": "yes"
        if ids == list(range(ids[0], ids[0] + len(ids))) and len(set(ids)) == len(ids)
        else "NO",
    }


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--processes", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    sys.path.insert(0, str(ROOT))
    from tests.postgres import postgres_server

    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONDEVMODE")}
    base |= {
        "DJANGO_SETTINGS_MODULE": "sse_project.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-publishers-secret-key-" + "x" * 40,
    }
    rows: list[tuple[str, int, dict[str, Any]]] = []
    for processes in counts:
        with tempfile.TemporaryDirectory() as folder:
            env = {**base, "ECHO_SQLITE_PATH": f"{folder}/db.sqlite3"}
            migrate(env)
            rows.append(("SQLite", processes, one_round(env, processes, args.events)))
            print(rows[-1], flush=True)
    with postgres_server() as server:
        import psycopg

        for processes in counts:
            name = f"publishers_{processes}"
            with psycopg.connect(server.url(), autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {name}")
            env = {**base, "DATABASE_URL": server.url(name)}
            migrate(env)
            rows.append(("PostgreSQL", processes, one_round(env, processes, args.events)))
            print(rows[-1], flush=True)
    keys = list(rows[0][2])
    lines = [
        "# Concurrent publishers to one channel (bench/publishers.py)",
        "",
        f"{args.events} events per process, all processes starting together, one shared channel "
        "(the demo's `demo`).",
        "",
        "| database | processes | " + " | ".join(keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for database, processes, row in rows:
        cells = [f"{row[key]:,.1f}" if isinstance(row[key], float) else str(row[key]) for key in keys]
        lines.append(f"| {database} | {processes} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "publishers.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
