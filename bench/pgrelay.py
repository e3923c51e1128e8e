"""PostgreSQL LISTEN/NOTIFY against the storage poll: how events reach another server process.

    .venv/bin/python bench/pgrelay.py [--channels 20] [--seconds 10] [--rate 20]

Starts Debian's PostgreSQL (as the suite does, tests/postgres.py) and, for each relay, a fresh
database and two server processes on it (A and B, `bench/django_bench`, Daphne as `make run`).
Each process has one subscriber on each of `--channels` channels, so both hubs serve them all.
Idle: nothing is published for `--seconds`; the database's load is its committed transactions per
second (`pg_stat_database.xact_commit`, autocommit statements included) and the CPU time of all
of PostgreSQL's processes. Publishing: A publishes `--rate` events per second on one channel
(the bench view, `echo.broadcast.apublish`) for `--seconds`; B's subscriber notes each event's
delay from just before its publish call to its arrival (same machine, one clock).

Results go to bench/out/pgrelay.md (and standard output).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from _servers import BIN, PROJECT_BENCH, ServerKind, running  # noqa: E402
from httpx_sse import aconnect_sse  # noqa: E402

RELAYS = {
    "poll (1 s)": {"BROADCAST_NOTIFY": False, "BROADCAST_POLL_INTERVAL": 1.0},
    "LISTEN/NOTIFY": {"BROADCAST_NOTIFY": True},
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def postgres_cpu(postmaster: int) -> float:
    """CPU seconds of the postmaster and every process it started."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(entry) == postmaster or int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def commits(url: str, database: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", [database]).fetchone()
        assert row is not None
        return int(row[0])


def server_kind(name: str, url: str, echo: dict[str, object]) -> ServerKind:
    base = PROJECT_BENCH.env

    def env(workdir: Path) -> dict[str, str]:
        return {**base(workdir), "DATABASE_URL": url, "ECHO_BENCH_SETTINGS": json.dumps(echo)}

    return ServerKind(name, PROJECT_BENCH.label, PROJECT_BENCH.command, env, lambda workdir: None)


async def subscribe(base: str, channel: str, ready: asyncio.Event, delays: list[float] | None) -> None:
    async with (
        httpx.AsyncClient(base_url=base, timeout=None) as client,
        aconnect_sse(client, "GET", f"/events/{channel}/") as source,
    ):
        if source.response.status_code != 200:
            body = await source.response.aread()
            raise RuntimeError(f"{channel}: {source.response.status_code} {body!r}")
        async for event in source.aiter_sse():
            if event.event == "stream-open":
                ready.set()
            elif delays is not None and event.event == "bench_tick":
                delays.append(time.time() - json.loads(event.data)["sent"])


async def measure(a: str, b: str, args: argparse.Namespace, mark: Callable[[str], None]) -> list[float]:
    """Subscribers on both servers; an idle phase, then a publishing one. Returns B's delays."""
    channels = [f"bench-relay-{n}" for n in range(args.channels)]
    delays: list[float] = []
    readies = [asyncio.Event() for _ in range(2 * len(channels))]
    tasks = []
    for n, channel in enumerate(channels):
        for k, base in enumerate((a, b)):
            noted = delays if n == 0 and k == 1 else None  # B's subscriber to the first channel
            tasks.append(asyncio.create_task(subscribe(base, channel, readies[2 * n + k], noted)))
    try:
        async with asyncio.timeout(60):
            waiting = asyncio.gather(*(ready.wait() for ready in readies))
            done, _ = await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a subscriber that failed to connect raises here
        mark("idle start")
        await asyncio.sleep(args.seconds)  # the idle phase's length, not a wait for a condition
        mark("idle end")
        count = int(args.rate * args.seconds)
        async with httpx.AsyncClient(base_url=a, timeout=args.seconds + 60) as client:
            query = {"channel": channels[0], "n": count, "rate": args.rate, "mode": "ours"}
            answer = await client.post("/bench/publish", params=query)
            answer.raise_for_status()
        mark("busy end")
        deadline = time.monotonic() + 10
        while len(delays) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # polling with the deadline above
        return delays
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run_relay(name: str, echo: dict[str, object], server: Any, args: argparse.Namespace) -> dict[str, float]:
    import psycopg

    database = "relay_" + "".join(c for c in name if c.isalnum()).lower()
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    url = server.url(database)
    env = {**PROJECT_BENCH.env(Path(tempfile.gettempdir())), "DATABASE_URL": url}
    subprocess.run([str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    postmaster = server.process.pid
    samples: dict[str, tuple[int, float]] = {}
    load: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        kind_a, kind_b = server_kind("relay-a", url, echo), server_kind("relay-b", url, echo)
        with running(kind_a, work, cpu=0) as a, running(kind_b, work, cpu=1) as b:

            def mark(name: str) -> None:
                load[name] = time.monotonic()
                samples[name] = (commits(server.url(), database), postgres_cpu(postmaster))

            a_url, b_url = f"http://{a.host}:{a.port}", f"http://{b.host}:{b.port}"
            delays = asyncio.run(measure(a_url, b_url, args, mark))
    idle_s = load["idle end"] - load["idle start"]
    busy_s = load["busy end"] - load["idle end"]
    count = int(args.rate * args.seconds)
    ms = sorted(d * 1000 for d in delays)
    return {
        "received": len(delays),
        "published": count,
        "p50 ms": statistics.median(ms),
        "p99 ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max ms": ms[-1],
        "idle xact/s": (samples["idle end"][0] - samples["idle start"][0]) / idle_s,
        "idle pg cpu ms/s": 1000 * (samples["idle end"][1] - samples["idle start"][1]) / idle_s,
        "busy xact/s": (samples["busy end"][0] - samples["idle end"][0]) / busy_s,
        "busy pg cpu ms/s": 1000 * (samples["busy end"][1] - samples["idle end"][1]) / busy_s,
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    from tests.postgres import postgres_server

    found: dict[str, dict[str, float]] = {}
    with postgres_server() as server:
        for name, echo in RELAYS.items():
            found[name] = run_relay(name, echo, server, args)
            print(name, found[name], flush=True)
    keys = list(next(iter(found.values())))
    lines = [
        "# Between server processes on PostgreSQL: LISTEN/NOTIFY against the storage poll (bench/pgrelay.py)",
        "",
        f"Two server processes, one subscriber per process on each of {args.channels} channels; idle "
        f"{args.seconds:g} s, then {args.rate:g} events/s published in process A for {args.seconds:g} s, "
        "delays measured in process B.",
        "",
        "| relay | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for name, row in found.items():
        cells = [f"{row[key]:.1f}" if isinstance(row[key], float) else str(row[key]) for key in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "pgrelay.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
