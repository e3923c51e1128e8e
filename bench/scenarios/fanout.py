"""Fan-out: `--subscribers` (1,000; 10,000) of one channel; events published in the server
(`POST /bench/publish`, bench/django_bench/views.py; django-eventstream's twin in stock.py).

`--shape each`: 50 events one at a time, each published once every subscriber has the one before:
how long one event takes to reach them all (p50/p99 publish-to-arrival). `--shape burst`: 200
events back to back (batched where the server can): deliveries/s through a backlog, whose p99 is
the backlog's length. Deliveries/s count every delivery, first publish to last arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

import httpx

from bench.client import HOST, Stream, open_many, quantile
from bench.servers import Server
from bench.trial import Window, parser, run_trial
from echo.sse.wire.encode import ServerSentEvent

EVENTS = {"each": 50, "burst": 200}


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    count = min(args.subscribers, 200) if args.quick else args.subscribers
    loop = asyncio.get_running_loop()
    channel, events = f"bench-{server.port}", EVENTS[args.shape]
    delays: list[float] = []
    goal: list[Any] = [0, loop.create_future()]  # deliveries awaited; set once they are in

    def seen(stream: Stream, event: ServerSentEvent, now: float) -> None:
        if event.event == "bench_tick":
            delays.append(time.time() - json.loads(event.data)["sent"])
            if len(delays) >= goal[0] and not goal[1].done():
                goal[1].set_result(None)

    async def publish(client: httpx.AsyncClient, n: int) -> float:
        goal[:] = [len(delays) + count * n, loop.create_future()]
        answer = await client.post("/bench/publish", params={"channel": channel, "n": n})
        answer.raise_for_status()
        with contextlib.suppress(TimeoutError):  # a lost delivery shows as `delivered` < 1
            await asyncio.wait_for(goal[1], 120 if n > 1 else 10)
        return float(answer.json()["seconds"])

    streams = await open_many(
        server.port, [f"/events/{channel}/"] * count, deadline=loop.time() + 120, on_event=seen
    )
    try:
        window = Window(server)
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{server.port}", timeout=300) as client:
            if args.shape == "burst":
                publish_s = await publish(client, events)
            else:
                publish_s = sum([await publish(client, 1) for _ in range(events)])
        found = window.close()
    finally:
        for stream in streams:
            stream.close()
    return {
        "subscribers": count,
        "deliveries_per_s": len(delays) / found["seconds"],
        "delivered": len(delays) / (count * events),
        "p50_ms": quantile(delays, 0.5) * 1000,
        "p99_ms": quantile(delays, 0.99) * 1000,
        "publish_s": publish_s,
        "server_cpu": found["server_cpu"],
        "client_cpu": found["client_cpu"],
        "threads": server.status("Threads"),
    }


def main() -> None:
    found = parser(__doc__)
    found.add_argument("--subscribers", type=int, default=1000)
    found.add_argument("--shape", choices=sorted(EVENTS), default="each")
    run_trial(found.parse_args(), measure, serves_sse2=False)


if __name__ == "__main__":
    main()
