"""A soak: held streams, churn, publishing, terminates and slow readers at once, for an hour.

    .venv/bin/python bench/soak.py                 # 60 minutes
    .venv/bin/python bench/soak.py --minutes 2     # the short version

One project server (`django_bench.settings`, Daphne as `make run`, its SQLite file, pinned to
core 0); the load from this process on core 1, every loop bounded in count and time:

- `--held` `/sse2?interval=1` streams held open, each opened again when it ends (a terminate);
- `--subscribers` subscribers to one broadcast channel, `--publish-rate` events/s published to it
  through the bench publish view;
- `--churn` short streams a second (connect, read the one event of `limit=1`, the end);
- every 30 s five live `/sse2` sessions terminated (the admin's action, `POST /bench/terminate`);
- every 60 s two readers that never read a fast stream, ended as `slow_client` by the server
  (`SLOW_CLIENT_TIMEOUT` 5 s here).

Every 10 s: the server's RSS, open fds, threads and SQLite connections (fds on the database's
files), and from `/metrics` the open streams and the session writer's queue depth; errors are
the load's unexpected answers plus the server log's ERROR lines. Written to bench/out/soak.jsonl,
bench/out/soak.png and bench/out/soak.md. Exit status 1 on an error or a rising trend: a line
fitted to the last half of a series whose rise over that half exceeds both three times the
series' own noise there (the residuals' standard deviation) and a floor per series.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _client import (  # noqa: E402
    SourceAddresses,
    SSEConnection,
    connect_sse,
    http_call,
    raise_nofile_limit,
)
from _servers import PROJECT_BENCH, Server, ServerKind, running  # noqa: E402

OUT = ROOT / "bench" / "out"
TOKEN = "bench-metrics"  # django_bench.settings
CHANNEL = "bench-soak"
SAMPLE_EVERY = 10.0
# The smallest rise over the last half that counts as a trend, whatever the noise.
FLOORS = {"rss_mb": 8.0, "fds": 20.0, "threads": 3.0, "db_connections": 2.0, "queue_depth": 200.0}
SERIES = ("rss_mb", "fds", "threads", "db_connections", "open_streams", "queue_depth")


class Stream(SSEConnection):
    """A stream that is read: done when its body or connection ends."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        self.events = 0

    def on_blocks(self, blocks: list[bytes], now: float) -> None:
        self.events += len(blocks)


class Stats:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.counts = {"churned": 0, "reopened": 0, "terminated": 0, "slow_ended": 0, "published": 0}

    def error(self, what: str) -> None:
        if len(self.errors) < 1000:  # bounded: the first thousand are plenty to read
            self.errors.append(what)


def kind() -> ServerKind:
    settings = json.dumps({"SLOW_CLIENT_TIMEOUT": 5.0})

    def env(workdir: Path) -> dict[str, str]:
        return {**PROJECT_BENCH.env(workdir), "ECHO_BENCH_SETTINGS": settings}

    return ServerKind("soak", PROJECT_BENCH.label, PROJECT_BENCH.command, env, PROJECT_BENCH.prepare)


async def every(seconds: float, deadline: float, step: Callable[[], Awaitable[None]]) -> None:
    """`step` every `seconds` until `deadline` (a schedule, not a wait for a condition)."""
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while loop.time() < deadline:
        await step()
        next_at += seconds
        await asyncio.sleep(max(0.0, next_at - loop.time()))


async def hold(
    server: Server,
    path: str,
    params: dict[str, object],
    deadline: float,
    stats: Stats,
    sources: SourceAddresses,
) -> None:
    """One client that keeps a stream open until `deadline`, connecting again when it ends."""
    loop = asyncio.get_running_loop()
    for _ in range(10_000):  # bounded: a stream ends a few times an hour at most
        if loop.time() >= deadline:
            return
        try:
            stream = await connect_sse(Stream, server.host, server.port, path, params, local_host=sources())
        except OSError as exc:
            stats.error(f"connect {path}: {exc!r}")
            await asyncio.sleep(1)
            continue
        try:
            await asyncio.wait_for(asyncio.shield(stream.closed), max(0.0, deadline - loop.time()))
        except TimeoutError:
            stream.close()
            return
        if stream.status not in (200, 0):
            stats.error(f"{path}: status {stream.status}")
        stats.counts["reopened"] += 1
        await asyncio.sleep(1)  # as a browser's EventSource, about a second later


async def churn_one(server: Server, sources: SourceAddresses, stats: Stats) -> None:
    params = {"message": "churn", "interval": 0, "limit": 1}
    try:
        stream = await connect_sse(Stream, server.host, server.port, "/sse2", params, local_host=sources())
        await asyncio.wait_for(asyncio.shield(stream.closed), 10)
    except (OSError, TimeoutError) as exc:
        stats.error(f"churn: {exc!r}")
        return
    if stream.status != 200 or stream.events < 1:
        stats.error(f"churn: status {stream.status}, {stream.events} events")
    stats.counts["churned"] += 1


class NotReading(asyncio.Protocol):
    """Sends its request, then reads nothing: the socket buffers fill, then the server's. Once
    told to read again it drains what the buffers hold; the end comes only if the server ended
    the stream meanwhile (it is endless otherwise)."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def slow_reader(server: Server, stats: Stats) -> None:
    """A reader that never reads a fast stream: the server must end it (slow_client)."""
    loop = asyncio.get_running_loop()
    request = f"GET /sse2?message=slow&interval=0 HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n\r\n"
    transport, reader = await loop.create_connection(
        lambda: NotReading(request.encode()), server.host, server.port
    )
    try:
        # Long enough for the buffers to fill and SLOW_CLIENT_TIMEOUT (5 s) to pass; the schedule
        # of the fault, not a wait for a condition.
        await asyncio.sleep(20)
        transport.resume_reading()
        await asyncio.wait_for(asyncio.shield(reader.closed), 30)
        stats.counts["slow_ended"] += 1
    except TimeoutError:
        stats.error("a slow reader was not ended by the server")
    finally:
        transport.close()


def proc(server: Server, database: Path) -> dict[str, float]:
    fd_dir = Path(f"/proc/{server.pid}/fd")
    targets = []
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            targets.append(os.readlink(fd_dir / fd))
    return {
        "rss_mb": server.rss_kb() / 1024,
        "fds": float(len(targets)),
        "threads": float(server.threads()),
        # Each SQLite connection holds the database file open (and its WAL and shm files).
        "db_connections": float(sum(target == str(database) for target in targets)),
    }


async def scrape(server: Server) -> dict[str, float]:
    headers = f"Authorization: Bearer {TOKEN}\r\n"
    status, body = await http_call(server.host, server.port, "GET", "/metrics", timeout=10, headers=headers)
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    found = {"open_streams": 0.0, "queue_depth": 0.0}
    for line in body.decode().splitlines():
        if line.startswith("echo_streams_open{"):
            found["open_streams"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("echo_sessions_queue_depth "):
            found["queue_depth"] = float(line.rsplit(" ", 1)[1])
    return found


def server_errors(server: Server) -> list[str]:
    text = server.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback")]


async def soak(
    server: Server, args: argparse.Namespace, samples: list[dict[str, float]], stats: Stats
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + args.minutes * 60
    database = server.sqlite_path.resolve()
    # One rotation over the 50 source addresses for every client: none passes the per-client cap.
    sources = SourceAddresses()
    tasks = [
        asyncio.create_task(
            hold(server, "/sse2", {"message": f"held{n}", "interval": 1}, deadline, stats, sources)
        )
        for n in range(args.held)
    ]
    tasks += [
        asyncio.create_task(hold(server, f"/events/{CHANNEL}/", {}, deadline, stats, sources))
        for _ in range(args.subscribers)
    ]
    churning: set[asyncio.Task[None]] = set()

    async def churn() -> None:
        if len(churning) < 100:  # bounded: a slow server does not pile up connections here
            task = asyncio.create_task(churn_one(server, sources, stats))
            churning.add(task)
            task.add_done_callback(churning.discard)

    async def publish() -> None:
        target = f"/bench/publish?channel={CHANNEL}&n={args.publish_rate}&rate={args.publish_rate}&mode=ours"
        status, body = await http_call(server.host, server.port, "POST", target, timeout=30)
        if status != 200:
            stats.error(f"publish: {status} {body[:200]!r}")
        else:
            stats.counts["published"] += args.publish_rate

    async def terminate() -> None:
        status, body = await http_call(server.host, server.port, "POST", "/bench/terminate?n=5", timeout=30)
        if status != 200:
            stats.error(f"terminate: {status} {body[:200]!r}")
        else:
            stats.counts["terminated"] += json.loads(body)["terminated"]

    async def slow() -> None:
        for _ in range(2):
            tasks.append(asyncio.create_task(slow_reader(server, stats)))

    async def sample() -> None:
        row = {"t": loop.time() - started, **proc(server, database), **await scrape(server)}
        row["errors"] = float(len(stats.errors) + len(server_errors(server)))
        samples.append(row)
        print(json.dumps({k: round(v, 1) for k, v in row.items()}), flush=True)

    loops = [
        every(1 / args.churn, deadline, churn),
        every(1.0, deadline, publish),
        every(30.0, deadline, terminate),
        every(60.0, deadline, slow),
        every(SAMPLE_EVERY, deadline - 1, sample),  # the last one while the load still runs
    ]
    await asyncio.gather(*loops)
    await asyncio.gather(*tasks, *churning, return_exceptions=True)


def trend(samples: list[dict[str, float]], key: str) -> dict[str, float]:
    half = [row for row in samples if row["t"] >= samples[-1]["t"] / 2]
    xs, ys = [row["t"] for row in half], [row[key] for row in half]
    if len(xs) < 3:
        return {"slope_per_h": 0.0, "rise": 0.0, "noise": 0.0}
    fit = statistics.linear_regression(xs, ys)
    residuals = [y - (fit.intercept + fit.slope * x) for x, y in zip(xs, ys, strict=True)]
    return {
        "slope_per_h": fit.slope * 3600,
        "rise": fit.slope * (xs[-1] - xs[0]),
        "noise": statistics.pstdev(residuals),
    }


def plot(samples: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(SERIES), 1, figsize=(9, 2.0 * len(SERIES)), sharex=True)
    minutes = [row["t"] / 60 for row in samples]
    for axis, key in zip(axes, SERIES, strict=True):
        axis.plot(minutes, [row[key] for row in samples], linewidth=1.2)
        axis.set_ylabel(key.replace("_", " "))
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes")
    figure.suptitle("bench/soak.py: the server over the run, a sample every 10 s")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--held", type=int, default=300)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--churn", type=float, default=10.0, help="short streams a second")
    parser.add_argument("--publish-rate", type=int, default=10, help="events a second")
    args = parser.parse_args()
    raise_nofile_limit(4 * (args.held + args.subscribers) + 2000)
    samples: list[dict[str, float]] = []
    stats = Stats()
    with tempfile.TemporaryDirectory() as folder, running(kind(), Path(folder), cpu=0) as server:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {1})
        asyncio.run(soak(server, args, samples, stats))
        errors = stats.errors + server_errors(server)
    OUT.mkdir(exist_ok=True)
    (OUT / "soak.jsonl").write_text("".join(json.dumps(row) + "\n" for row in samples))
    plot(samples, OUT / "soak.png")
    verdicts = {}
    for key in FLOORS:
        found = trend(samples, key)
        rising = found["rise"] > max(3 * found["noise"], FLOORS[key])
        verdicts[key] = (found, rising)
    lines = [
        "# Soak (bench/soak.py)",
        "",
        f"{args.minutes:g} minutes: {args.held} held streams, {args.subscribers} subscribers, "
        f"{args.churn:g} short streams/s, {args.publish_rate} events/s published, five terminates every "
        "30 s, two slow readers every 60 s. Samples every 10 s; trend = a line over the last half.",
        "",
        f"Load done: {json.dumps(stats.counts)}. Errors: {len(errors)}.",
        "",
        "| series | first | last | min | max | slope over the last half (/h) | rise | noise | rising |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key in SERIES:
        values = [row[key] for row in samples]
        found, rising = verdicts.get(key, (trend(samples, key), False))
        lines.append(
            f"| {key} | {values[0]:.1f} | {values[-1]:.1f} | {min(values):.1f} | {max(values):.1f} | "
            f"{found['slope_per_h']:+.2f} | {found['rise']:+.2f} | {found['noise']:.2f} | "
            f"{'**yes**' if rising else 'no'} |"
        )
    lines += ["", *[f"- error: {error}" for error in errors[:20]]]
    (OUT / "soak.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    failed = bool(errors) or any(rising for _, rising in verdicts.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
