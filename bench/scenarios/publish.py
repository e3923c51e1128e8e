"""Publish latency: echo.broadcast's public `publish` called in this process, one event at a
time, on SQLite (`--variant sqlite`) or PostgreSQL (`pg`: the suite's server, fsync off;
`pg-durable`: PostgreSQL's defaults, so a commit waits for the disk): stored and announced (the
hub; NOTIFY on PostgreSQL); then `publish_many` with the same events. `floor_ms`: a bare one-row
INSERT committed on the same database, the least a stored publish can take there.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from bench.client import quantile
from bench.servers import ROOT, cpu_probe
from bench.trial import parser, postgres


def measure(count: int) -> dict[str, float]:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connection

    from bench.django_bench.views import BenchTick, TickPayload
    from echo.broadcast.publish import publish, publish_many

    def tick(n: int) -> BenchTick:
        return BenchTick.create(TickPayload(seq=n, sent=time.time()))

    def timed(step: object) -> list[float]:
        took = []
        for n in range(count):
            began = time.perf_counter()
            step(n)  # type: ignore[operator]
            took.append(time.perf_counter() - began)
        return sorted(took)

    for n in range(20):  # warm-up: connections, prepared statements, first-use imports
        publish("bench-warm", tick(n))
    took = timed(lambda n: publish("bench-publish", tick(n)))
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_floor (n integer)")
        floor = timed(lambda n: cursor.execute("INSERT INTO bench_floor VALUES (%s)", [n]))
    began = time.perf_counter()
    publish_many("bench-batch", [tick(n) for n in range(count)])
    return {
        "p50_ms": quantile(took, 0.5) * 1000,
        "p99_ms": quantile(took, 0.99) * 1000,
        "floor_ms": quantile(floor, 0.5) * 1000,
        "batched_ms_per_event": (time.perf_counter() - began) / count * 1000,
    }


def main() -> None:
    args = parser(__doc__).parse_args()
    probe = cpu_probe()
    pg = postgres(args.variant.startswith("pg"), durable=args.variant == "pg-durable")
    with tempfile.TemporaryDirectory() as folder, pg as url:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="bench.django_bench.settings", DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY="bench-" + "k" * 50, ECHO_SQLITE_PATH=f"{folder}/db.sqlite3",
        )  # fmt: skip
        if url:
            os.environ["DATABASE_URL"] = url
        os.chdir(ROOT)
        found = measure(50 if args.quick else 500)
    print(json.dumps({"variant": args.variant, "probe": probe, **found}))


if __name__ == "__main__":
    main()
