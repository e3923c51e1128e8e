"""Publish latency: echo.broadcast's public `publish` called in this process, one event at a
time, on SQLite (`--variant sqlite`) or PostgreSQL (`pg`): stored and announced (the hub; NOTIFY
on PostgreSQL). With `publish_many` in the tree, a batch of the same events too.
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
    from bench.django_bench.views import BenchTick, TickPayload
    from echo.broadcast import publish as module

    def tick(n: int) -> BenchTick:
        return BenchTick.create(TickPayload(seq=n, sent=time.time()))

    for n in range(20):  # warm-up: connections, prepared statements, first-use imports
        module.publish("bench-warm", tick(n))
    took = []
    for n in range(count):
        began = time.perf_counter()
        module.publish("bench-publish", tick(n))
        took.append(time.perf_counter() - began)
    found = {"p50_ms": quantile(took, 0.5) * 1000, "p99_ms": quantile(took, 0.99) * 1000,
             "mean_ms": sum(took) / count * 1000}  # fmt: skip
    many = getattr(module, "publish_many", None)  # issue 30's batched publish, once merged
    if many is not None:
        began = time.perf_counter()
        many("bench-batch", [tick(n) for n in range(count)])
        found["batched_ms_per_event"] = (time.perf_counter() - began) / count * 1000
    return found


def main() -> None:
    args = parser(__doc__).parse_args()
    probe = cpu_probe()
    with tempfile.TemporaryDirectory() as folder, postgres(args.variant == "pg") as url:
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
