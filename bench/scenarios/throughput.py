"""Throughput: `--streams` (1 or 20) `/sse2?interval=0` streams read as fast as they come.

Events are counted, not parsed (bench/client.py says why), over a fixed window after a second of
warm-up. Events/s, server CPU per 10,000 events, and the load's own CPU share.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench.client import open_many, target
from bench.servers import Server
from bench.trial import Window, parser, run_trial


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    seconds = 2.0 if args.quick else 5.0
    loop = asyncio.get_running_loop()
    paths = [target("/sse2", message="hello", interval=0)] * args.streams
    streams = await open_many(server.port, paths, deadline=loop.time() + 30, decode=False)
    try:
        await asyncio.sleep(1.0)  # warm-up: a schedule, not a wait for a condition
        before = sum(stream.events for stream in streams)
        window = Window(server)
        await asyncio.sleep(seconds)
        events = sum(stream.events for stream in streams) - before
        found = window.close()
        ended = sum(stream.ended.done() for stream in streams)
    finally:
        for stream in streams:
            stream.close()
    return {
        "events_per_s": events / found["seconds"],
        "server_cpu_s_per_10k": found["server_cpu_s"] / max(1, events) * 10_000,
        "server_cpu": found["server_cpu"],
        "client_cpu": found["client_cpu"],
        "errors": ended,  # a stream that ended early
    }


def main() -> None:
    found = parser(__doc__)
    found.add_argument("--streams", type=int, default=1)
    run_trial(found.parse_args(), measure)


if __name__ == "__main__":
    main()
