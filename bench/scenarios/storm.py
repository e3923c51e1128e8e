"""A reconnect storm: `--clients` (10,000) clients streaming `/sse2?interval=1`, the server
restarted (SIGTERM, then the same command on the same port), and the time from the SIGTERM until
every client streams again (its first event on a new connection).

Each client reconnects as a browser's `EventSource` does: after the last `retry:` its stream set
(the project's final event spreads them, 3 + 0..5 s), else 3 s (Chromium's default), and again
after the same delay when a connection is refused. Bounded: 50 attempts, 180 s.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.client import Sources, connect, quantile, target
from bench.servers import Server, start
from bench.trial import parser, run_trial

DEFAULT_RETRY = 3.0


class Client:
    def __init__(self) -> None:
        self.streaming = asyncio.get_running_loop().create_future()  # first event, first stream
        self.back_at = 0.0  # first event after the restart
        self.restarted = 0.0
        self.attempts = 0

    async def run(self, port: int, source: str, deadline: float) -> None:
        path = target("/sse2", message="storm", interval=1)
        loop, retry = asyncio.get_running_loop(), DEFAULT_RETRY
        while self.attempts < 50 and loop.time() < deadline and not self.back_at:
            self.attempts += 1
            try:
                stream = await connect(port, path, source=source)
                await stream.first
            except OSError:
                await asyncio.sleep(retry)
                continue
            if not self.streaming.done():
                self.streaming.set_result(None)
            elif self.restarted:
                self.back_at = time.perf_counter()
                stream.close()
                return
            await stream.ended
            retry = stream.decoder.retry / 1000 if stream.decoder and stream.decoder.retry else retry
            await asyncio.sleep(retry)


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    count = min(args.clients, 300) if args.quick else args.clients
    loop, sources = asyncio.get_running_loop(), Sources()
    clients = [Client() for _ in range(count)]
    deadline = loop.time() + 180
    tasks = [asyncio.create_task(client.run(server.port, sources(), deadline)) for client in clients]
    try:
        async with asyncio.timeout(120):
            await asyncio.gather(*(client.streaming for client in clients))
        restarted = time.perf_counter()
        for client in clients:
            client.restarted = restarted
        await asyncio.to_thread(server.stop)
        pg = server.env.get("DATABASE_URL", "")
        server = await asyncio.to_thread(start, server.variant, server.log.parent, pg=pg, port=server.port)
        await asyncio.wait(tasks, timeout=max(1.0, deadline - loop.time()))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.stop()
    back = [client.back_at - restarted for client in clients if client.back_at]
    return {
        "clients": count,
        "all_back_s": max(back) if len(back) == count else float("nan"),
        "p50_back_s": quantile(back, 0.5),
        "back": len(back) / count,
        "attempts_per_client": sum(client.attempts for client in clients) / count,
    }


def main() -> None:
    found = parser(__doc__)
    found.add_argument("--clients", type=int, default=10_000)
    run_trial(found.parse_args(), measure)


if __name__ == "__main__":
    main()
