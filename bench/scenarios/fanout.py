"""Fan-out: `--subscribers` (1,000; 10,000) subscribers of one channel, 200 events published back
to back inside the server (`POST /bench/publish`, bench/django_bench/views.py).

`project-bench`: echo.broadcast (`/events/<channel>/`); `eventstream`: django-eventstream's
stock set-up in its own process. Deliveries/s (every delivery, from the first publish to the
last arrival), publish-to-arrival p50/p99 (wall clock), and the time the publishing took.
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

EVENTS = 200


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    count = min(args.subscribers, 200) if args.quick else args.subscribers
    loop = asyncio.get_running_loop()
    channel = f"bench-{server.port}"
    delays: list[float] = []
    everyone = loop.create_future()

    def seen(stream: Stream, event: ServerSentEvent, now: float) -> None:
        if event.event == "bench_tick":
            delays.append(time.time() - json.loads(event.data)["sent"])
            if len(delays) == count * EVENTS and not everyone.done():
                everyone.set_result(None)

    streams = await open_many(
        server.port, [f"/events/{channel}/"] * count, deadline=loop.time() + 120, on_event=seen
    )
    try:
        window = Window(server)
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{server.port}", timeout=300) as client:
            answer = await client.post("/bench/publish", params={"channel": channel, "n": EVENTS})
        answer.raise_for_status()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone, 120)
        found = window.close()
    finally:
        for stream in streams:
            stream.close()
    return {
        "subscribers": count,
        "deliveries_per_s": len(delays) / found["seconds"],
        "delivered": len(delays) / (count * EVENTS),
        "p50_ms": quantile(delays, 0.5) * 1000,
        "p99_ms": quantile(delays, 0.99) * 1000,
        "publish_s": answer.json()["seconds"],
        "server_cpu": found["server_cpu"],
        "client_cpu": found["client_cpu"],
        "threads": server.status("Threads"),
    }


def main() -> None:
    found = parser(__doc__)
    found.add_argument("--subscribers", type=int, default=1000)
    run_trial(found.parse_args(), measure, serves_sse2=False)


if __name__ == "__main__":
    main()
