"""A deploy under load: SIGTERM to one of two server processes holding N open streams.

    .venv/bin/python bench/deploy.py [--streams 2000]    # writes bench/out/deploy.md

For each `FINAL_RETRY_SPREAD` (0, then the default 5,000 ms): two server processes A and B on one
SQLite database (`django_bench.settings`, Daphne as `make run`, A pinned to core 0 and B to core
1). N clients hold `/sse2?interval=1` on A, from 50 loopback source addresses. A gets SIGTERM.
Each client does what a browser's `EventSource` does: it reads the final `shutdown` event, waits
its `retry`, and connects again: to B, the load balancer's other process. Measured from the
signal: when each final event arrived (all within `SHUTDOWN_GRACE`, 5 s?), the reconnects per
100 ms (the peak, as connects/s), and when the last client read its first event from B (every
client streaming again).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _client import (  # noqa: E402
    SourceAddresses,
    SSEConnection,
    block_fields,
    connect_sse,
    gather_bounded,
    raise_nofile_limit,
)
from _servers import PROJECT_BENCH, Server, ServerKind, running  # noqa: E402

SPREADS = (0, 5000)
GRACE = 5.0  # ECHO["SHUTDOWN_GRACE"]'s default
BIN = 0.1  # seconds per bin of the reconnect rate
PARAMS = {"message": "deploy", "interval": 1}


class Held(SSEConnection):
    """A stream on A: notes the final event's retry and when it came, and when the body ended."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.retry: int | None = None
        self.final_at: float | None = None

    def on_blocks(self, blocks: list[bytes], now: float) -> None:
        if not self.first.done():
            self.first.set_result(None)
        for block in blocks:
            fields = block_fields(block)
            if fields.get(b"event") == b"shutdown":
                self.final_at = now
                self.retry = int(fields.get(b"retry", b"0"))


class Again(SSEConnection):
    """The reconnect on B: done at its first event."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        self.first: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def on_blocks(self, blocks: list[bytes], now: float) -> None:
        if not self.first.done():
            self.first.set_result(now)


def kind(name: str, spread: int) -> ServerKind:
    settings = json.dumps({"FINAL_RETRY_SPREAD": spread})

    def env(workdir: Path) -> dict[str, str]:
        return {**PROJECT_BENCH.env(workdir), "ECHO_BENCH_SETTINGS": settings}

    return ServerKind(name, PROJECT_BENCH.label, PROJECT_BENCH.command, env, PROJECT_BENCH.prepare)


async def deploy(a: Server, b: Server, streams: int) -> dict[str, float]:
    sources = SourceAddresses()

    async def hold() -> Held:
        held = await connect_sse(Held, a.host, a.port, "/sse2", PARAMS, local_host=sources())
        await asyncio.wait_for(held.first, 30)
        return held

    opened = await gather_bounded([hold] * streams, 200)
    failed = [r for r in opened if isinstance(r, BaseException)]
    if failed:
        raise RuntimeError(f"{len(failed)} of {streams} streams did not open on A: {failed[0]!r}")
    held = [r for r in opened if isinstance(r, Held)]

    signalled = time.perf_counter()
    a.process.send_signal(signal.SIGTERM)
    connects: list[float] = []

    async def come_back(one: Held, source: str) -> float:
        await asyncio.wait_for(one.closed, GRACE + 10)
        if one.retry is None:
            raise RuntimeError("a stream ended without the final shutdown event")
        await asyncio.sleep(one.retry / 1000)  # the client's own reconnection delay, as EventSource
        connects.append(time.perf_counter() - signalled)
        again = await connect_sse(Again, b.host, b.port, "/sse2", PARAMS, local_host=source)
        try:
            return await asyncio.wait_for(again.first, 30) - signalled
        finally:
            again.close()

    hosts = SourceAddresses()
    results = await asyncio.gather(*(come_back(one, hosts()) for one in held), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise RuntimeError(f"{len(errors)} clients did not stream again: {errors[0]!r}")
    streaming = sorted(r for r in results if isinstance(r, float))
    finals = sorted(one.final_at - signalled for one in held if one.final_at is not None)
    bins: dict[int, int] = {}
    for at in connects:
        bins[int(at / BIN)] = bins.get(int(at / BIN), 0) + 1
    return {
        "streams": float(len(held)),
        "finals": float(len(finals)),
        "last final s": finals[-1],
        "peak connects/s": max(bins.values()) / BIN,
        "reconnects from s": min(connects),
        "reconnects until s": max(connects),
        "all streaming again s": streaming[-1],
        "median back s": statistics.median(streaming),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=2000)
    args = parser.parse_args()
    raise_nofile_limit(4 * args.streams + 1000)
    found: dict[int, dict[str, float]] = {}
    for spread in SPREADS:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            with (
                running(kind("deploy-a", spread), work, cpu=0) as a,
                running(kind("deploy-b", spread), work, cpu=1) as b,
            ):
                found[spread] = asyncio.run(deploy(a, b, args.streams))
                exit_code = a.process.wait(GRACE + 10)
                found[spread]["A exit code"] = float(exit_code)
        print(spread, found[spread], flush=True)
    keys = list(next(iter(found.values())))
    lines = [
        "# A deploy under load (bench/deploy.py)",
        "",
        f"{args.streams} streams held on process A, SIGTERM to A; each client waits its final event's "
        "`retry` and reconnects to process B. Times in seconds from the signal.",
        "",
        "| FINAL_RETRY_SPREAD (ms) | " + " | ".join(keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for spread, row in found.items():
        cells = [f"{row[key]:.2f}" if key.endswith(" s") else f"{row[key]:,.0f}" for key in keys]
        lines.append(f"| {spread} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "deploy.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
