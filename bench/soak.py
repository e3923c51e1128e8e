"""A soak: 300 held streams, 50 subscribers, 10 short streams/s, 10 publishes/s, 5 terminates
/30 s and two slow readers /60 s, at once.

    .venv/bin/python bench/soak.py --minutes 2     # CI; 60 by default

One `project-bench` server (core 0); every 10 s its RSS, fds, threads, SQLite connections and,
from /metrics, the session writer's queue. Exit 1 on any error (the load's or an ERROR line in
the server's log) or a rising series: a line fitted to the run's second half rising more than
three times the residuals' noise and more than a floor. Samples in bench/out/soak.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import httpx

from bench.client import HOST, Sources, connect, raise_nofile, target
from bench.servers import LOAD_CORE, ROOT, Server, start

FLOORS = {"rss_mb": 8.0, "fds": 20.0, "threads": 3.0, "db_connections": 2.0, "queue_depth": 200.0}
errors: list[str] = []


async def every(seconds: float, deadline: float, step: Callable[[], Awaitable[object]]) -> None:
    """`step` on a schedule, every `seconds` until `deadline`; its failures are errors."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    for n in range(1_000_000):
        if loop.time() >= deadline:
            return
        try:
            await step()
        except (OSError, RuntimeError, TimeoutError, httpx.HTTPError) as exc:
            errors.append(repr(exc))
        await asyncio.sleep(max(0.0, began + seconds * (n + 1) - loop.time()))


async def hold(port: int, path: str, source: str, deadline: float) -> None:
    """A client keeping one stream open until `deadline`, reopening it when it ends (terminates)."""
    loop = asyncio.get_running_loop()
    for _ in range(10_000):
        stream = await connect(port, path, source=source)
        await asyncio.wait([stream.ended], timeout=max(0.0, deadline - loop.time()))
        stream.close()
        if loop.time() >= deadline:
            return
        await asyncio.sleep(1)  # as EventSource reconnects, about a second later


async def churn_one(port: int, source: str) -> None:
    stream = await connect(port, target("/sse2", message="churn", interval=0, limit=1), source=source)
    async with asyncio.timeout(10):
        await stream.ended
    if not stream.complete or stream.events != 2:  # its echo, then completed
        raise RuntimeError(f"churn: status {stream.status}, {stream.events} events")


async def slow_reader(port: int) -> None:
    """Reads nothing from a fast stream: the server must end it as `slow_client` (5 s here)."""
    stream = await connect(port, target("/sse2", message="slow", interval=0), decode=False)
    assert stream.transport is not None
    stream.transport.pause_reading()
    await asyncio.sleep(20)  # the fault's schedule: buffers fill, SLOW_CLIENT_TIMEOUT passes
    stream.transport.resume_reading()
    async with asyncio.timeout(30):
        await stream.ended


async def sample(
    server: Server, http: httpx.AsyncClient, started: float, rows: list[dict[str, float]]
) -> None:
    text = (await http.get("/metrics", headers={"Authorization": "Bearer bench-metrics"})).text
    depth = [line.split()[-1] for line in text.splitlines() if line.startswith("echo_sessions_queue_depth ")]
    fds, t = server.fds(), asyncio.get_running_loop().time() - started
    row = {"t": t, "rss_mb": server.status("VmRSS") / 1024, "fds": len(fds),
           "threads": server.status("Threads"), "queue_depth": float(depth[0] if depth else 0),
           "db_connections": sum(fd == server.env["ECHO_SQLITE_PATH"] for fd in fds)}  # fmt: skip
    rows.append(row)
    print(json.dumps({key: round(value, 1) for key, value in row.items()}), flush=True)


async def soak(server: Server, args: argparse.Namespace, rows: list[dict[str, float]]) -> None:
    loop, sources, port = asyncio.get_running_loop(), Sources(), server.port
    started = loop.time()
    deadline = started + args.minutes * 60
    held = [target("/sse2", message="held", interval=1)] * args.held + ["/events/bench-soak/"] * 50
    tasks = [asyncio.create_task(hold(port, path, sources(), deadline)) for path in held]
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as http:

        async def publish() -> None:
            (await http.post("/bench/publish", params={"channel": "bench-soak", "n": 10})).raise_for_status()

        async def terminate() -> None:
            (await http.post("/bench/terminate", params={"n": 5})).raise_for_status()

        await asyncio.gather(
            every(0.1, deadline, lambda: churn_one(port, sources())),
            every(1.0, deadline, publish),
            every(30.0, deadline, terminate),
            every(60.0, deadline - 50, lambda: asyncio.gather(slow_reader(port), slow_reader(port))),
            every(10.0, deadline - 1, lambda: sample(server, http, started, rows)),
        )
    await asyncio.gather(*tasks)


def rising(rows: list[dict[str, float]], key: str) -> bool:
    half = [row for row in rows if row["t"] >= rows[-1]["t"] / 2]
    if len(half) < 3:
        return False
    fit = statistics.linear_regression([row["t"] for row in half], [row[key] for row in half])
    noise = statistics.pstdev([row[key] - fit.intercept - fit.slope * row["t"] for row in half])
    rise = fit.slope * (half[-1]["t"] - half[0]["t"])
    print(f"{key}: first {rows[0][key]:.1f}, last {rows[-1][key]:.1f}, rise {rise:+.2f}, noise {noise:.2f}")
    return rise > max(3 * noise, FLOORS[key])


def main() -> int:
    found = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    found.add_argument("--minutes", type=float, default=60.0)
    found.add_argument("--held", type=int, default=300)
    args = found.parse_args()
    raise_nofile(10_000)
    os.sched_setaffinity(0, {LOAD_CORE})
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        server = start("project-bench", Path(folder))
        try:
            asyncio.run(soak(server, args, rows))
        finally:
            server.stop()
            errors.extend(server.errors())
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "soak.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    grew = [key for key in FLOORS if rising(rows, key)]
    print(f"{len(errors)} errors, rising: {grew or 'none'}", *errors[:20], sep="\n")
    return 1 if errors or grew else 0


if __name__ == "__main__":
    raise SystemExit(main())
