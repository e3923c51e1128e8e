"""The session writer's insert path on SQLite and PostgreSQL, against the ORM and against COPY.

    .venv/bin/python bench/writer.py              # both databases; writes bench/out/writer.md
    .venv/bin/python bench/writer.py --batches 5  # shorter

Each database gets a fresh migrated database (PostgreSQL: Debian's server, started here as the
suite starts it, tests/postgres.py). Rows are what the recorder writes for an ended stream; each
method inserts `--batches` batches of 500 rows in one transaction each, and the figure is the
median microseconds per row (wall time, and the writing thread's CPU).
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
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500


def rows(count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "id": uuid.uuid4(),
            "path": "/sse2",
            "query": "message=hello&interval=1",
            "client": "127.0.0.1",
            "user_agent": "bench",
            "user": None,
            "server": "bench:1",
            "started_at": now,
            "stream": "echo",
            "ended_at": now,
            "events_sent": 12,
            "bytes_sent": 1200,
            "last_event_id": "11",
            "end_reason": "client_disconnected",
            "last_seen_at": now,
            "error": "",
        }
        for _ in range(count)
    ]


def child(batches: int) -> dict[str, list[float]]:
    import django

    django.setup()
    from django.db import connection, transaction

    from echo.sessions.models import StreamSession
    from echo.sessions.writer import insert_many

    def echo_path(batch: list[dict[str, Any]]) -> None:
        insert_many(batch)

    def model(row: dict[str, Any]) -> StreamSession:
        return StreamSession(**{("user_id" if k == "user" else k): v for k, v in row.items()})

    def orm_bulk(batch: list[dict[str, Any]]) -> None:
        StreamSession.objects.bulk_create([model(row) for row in batch])

    def orm_save(batch: list[dict[str, Any]]) -> None:
        for row in batch:
            model(row).save(force_insert=True)

    def copy(batch: list[dict[str, Any]]) -> None:
        names = [("user_id" if k == "user" else k) for k in batch[0]]
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(f"COPY echo_sessions_streamsession ({', '.join(names)}) FROM STDIN") as out:
                for row in batch:
                    out.write_row(list(row.values()))

    methods = {"echo (executemany)": echo_path, "ORM bulk_create": orm_bulk, "ORM save() per row": orm_save}
    if connection.vendor == "postgresql":
        methods["COPY"] = copy
    results: dict[str, list[float]] = {}
    for name, method in methods.items():
        for _ in range(batches):
            batch = rows(BATCH)
            wall, cpu = time.perf_counter(), time.thread_time()
            with transaction.atomic():
                method(batch)
            results.setdefault(f"{name} wall", []).append((time.perf_counter() - wall) / BATCH * 1e6)
            results.setdefault(f"{name} cpu", []).append((time.thread_time() - cpu) / BATCH * 1e6)
    return results


def measure(env: dict[str, str], batches: int) -> dict[str, list[float]]:
    env = {**env, "DJANGO_SETTINGS_MODULE": "sse_project.settings", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    done = subprocess.run(
        [sys.executable, __file__, "--child", "--batches", str(batches)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.batches)))
        return
    sys.path.insert(0, str(ROOT))
    from tests.postgres import postgres_server

    found: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        found["SQLite"] = measure({**env, "ECHO_SQLITE_PATH": f"{folder}/db.sqlite3"}, args.batches)
    with postgres_server() as server:
        import psycopg

        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        found["PostgreSQL"] = measure({**os.environ, "DATABASE_URL": server.url("bench")}, args.batches)

    lines = [
        "# The session writer's insert path (bench/writer.py)",
        "",
        f"{args.batches} batches of {BATCH} ended-stream rows per method, one transaction each; median "
        "microseconds per row.",
        "",
        "| database | method | wall us/row | writer CPU us/row |",
        "|---|---|---|---|",
    ]
    for database, results in found.items():
        for key in results:
            if key.endswith(" wall"):
                name = key.removesuffix(" wall")
                wall = statistics.median(results[key])
                cpu = statistics.median(results[f"{name} cpu"])
                lines.append(f"| {database} | {name} | {wall:.1f} | {cpu:.1f} |")
    text = "\n".join(lines) + "\n"
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "writer.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
