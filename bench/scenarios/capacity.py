"""Capacity: `--streams` (10,000; 20,000) `/sse2?interval=1` streams held at once.

Over a window of held streams: the events delivered against those due, p50/p99 lateness, server
CPU (share of a core) and KB of server memory per stream (RSS growth over the idle server).
Lateness is an event's arrival minus its stream's schedule (start + (n + 1) s), `start` taken
from the stream's least delayed event, so that it measures falling behind and stalls rather than
the cost of opening the stream in a crowd.
"""

from __future__ import annotations

import argparse
import asyncio
import math
from typing import Any

from bench.client import Stream, open_many, quantile, target
from bench.servers import Server
from bench.trial import Window, parser, run_trial
from echo.sse.wire.encode import ServerSentEvent

Arrivals = dict[Stream, list[tuple[int, float]]]


def lateness(arrivals: Arrivals, since: float, until: float) -> tuple[list[float], int]:
    """The delays of the events scheduled in the window, and how many were scheduled there."""
    delays, due = [], 0
    for events in arrivals.values():
        start = min(at - (n + 1) for n, at in events) if events else since
        delays += [at - (start + n + 1) for n, at in events if since <= start + n + 1 < until]
        due += max(0, math.ceil(until - start) - max(1, math.ceil(since - start)))
    return delays, due


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    count = min(args.streams, 500) if args.quick else args.streams
    seconds = 4.0 if args.quick else 6.0
    loop = asyncio.get_running_loop()
    idle_kb = server.status("VmRSS")
    arrivals: Arrivals = {}

    def seen(stream: Stream, event: ServerSentEvent, now: float) -> None:
        arrivals.setdefault(stream, []).append((int(event.id or 0), now))

    paths = [target("/sse2", message="hello", interval=1)] * count
    began = loop.time()
    streams = await open_many(server.port, paths, deadline=began + 120, on_event=seen)
    opened_in = loop.time() - began
    try:
        await asyncio.sleep(3.0)  # settle: a schedule, not a wait for a condition
        window = Window(server)
        since = window.began
        await asyncio.sleep(seconds)
        found = window.close()
        rss_kb = server.status("VmRSS")
        await asyncio.sleep(2.0)  # the window's last events may still be on their way
        delays, due = lateness(arrivals, since, since + found["seconds"])
        threads = server.status("Threads")
    finally:
        for stream in streams:
            stream.close()
    return {
        "streams": count,
        "open_s": opened_in,
        "delivered": len(delays) / max(1, due),
        "p50_ms": quantile(delays, 0.5) * 1000,
        "p99_ms": quantile(delays, 0.99) * 1000,
        "server_cpu": found["server_cpu"],
        "client_cpu": found["client_cpu"],
        "kb_per_stream": (rss_kb - idle_kb) / count,
        "threads": threads,
        "errors": sum(stream.ended.done() for stream in streams),
    }


def main() -> None:
    found = parser(__doc__)
    found.add_argument("--streams", type=int, default=10_000)
    run_trial(found.parse_args(), measure)


if __name__ == "__main__":
    main()
