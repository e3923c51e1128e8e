"""Connect churn: 20 clients, each looping connect, GET, read, close, for a fixed time.

`--shape end`: `/sse2?message=hello&interval=0&limit=1` read to the end of the body (the stream
ends). `--shape leave`: `/sse2?message=hello&interval=0.01` with no limit, closed after the first
event (the client leaves mid-stream). Connects/s, cycle p50/p99, server CPU per connect.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.client import Sources, connect, quantile, target
from bench.servers import Server
from bench.trial import Window, parser, run_trial

CLIENTS = 20


async def cycle(port: int, path: str, shape: str, source: str) -> float:
    began = time.perf_counter()
    stream = await connect(port, path, source=source, decode=False)
    try:
        async with asyncio.timeout(10):
            await stream.head
            if shape == "end":
                await stream.ended
                if not (stream.complete and stream.events == 1):
                    raise RuntimeError(f"stream ended after {stream.events} events")
            else:
                await stream.first
    finally:
        stream.close()
    return time.perf_counter() - began


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    seconds = 3.0 if args.quick else 8.0
    path = "/bench/bare" if server.variant == "floor" else "/sse2"
    query = {"message": "hello", "interval": 0, "limit": 1} if args.shape == "end" else {
        "message": "hello", "interval": 0.01}  # fmt: skip
    path = target(path, **query)
    sources, cycles, errors = Sources(), [], []
    loop = asyncio.get_running_loop()

    async def client(deadline: float) -> None:
        for _ in range(1_000_000):  # bounded in count as well as time
            if loop.time() >= deadline:
                return
            try:
                cycles.append(await cycle(server.port, path, args.shape, sources()))
            except (OSError, RuntimeError, TimeoutError) as exc:
                errors.append(repr(exc))

    await asyncio.gather(*(client(loop.time() + 1.0) for _ in range(CLIENTS)))  # warm-up
    cycles.clear()
    window = Window(server)
    await asyncio.gather(*(client(loop.time() + seconds) for _ in range(CLIENTS)))
    found = window.close()
    return {
        "connects_per_s": len(cycles) / found["seconds"],
        "cycle_p50_ms": quantile(cycles, 0.5) * 1000,
        "cycle_p99_ms": quantile(cycles, 0.99) * 1000,
        "server_cpu_ms_per_connect": found["server_cpu_s"] / max(1, len(cycles)) * 1000,
        "client_cpu": found["client_cpu"],
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def main() -> None:
    found = parser(__doc__)
    found.add_argument("--shape", choices=("end", "leave"), default="end")
    run_trial(found.parse_args(), measure)


if __name__ == "__main__":
    main()
