"""One trial: a fresh server of one variant (core 0), this process the load (core 1), one JSON
line on stdout. The load's CPU is measured beside the server's in every window, so that a
client-bound figure shows; the workers variants are not pinned, and report it likewise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bench.client import connect, cpu_seconds, raise_nofile, target
from bench.servers import LOAD_CORE, ROOT, Server, cpu_probe, start

Measure = Callable[[Server, argparse.Namespace], Awaitable[dict[str, Any]]]


class Window:
    """Wall time, server CPU and this process's CPU over a measured window."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.began, self.server_cpu, self.client_cpu = time.perf_counter(), server.cpu(), cpu_seconds()

    def close(self) -> dict[str, float]:
        seconds = time.perf_counter() - self.began
        return {
            "seconds": seconds,
            "server_cpu_s": self.server.cpu() - self.server_cpu,
            "server_cpu": (self.server.cpu() - self.server_cpu) / seconds,
            "client_cpu": (cpu_seconds() - self.client_cpu) / seconds,
        }


async def check_contract(port: int, path: str = "/sse2") -> None:
    """`/sse2`'s contract on the wire: ids 0, 1, 2 of `echo`, then the end (echo's: `completed`)."""
    seen: list[tuple[str | None, str]] = []
    stream = await connect(port, target(path, message="hello", interval=0, limit=3),
                           on_event=lambda _, event, __: seen.append((event.id, event.event)))  # fmt: skip
    async with asyncio.timeout(20):
        await stream.head
        await stream.ended
    expected = [("0", "echo"), ("1", "echo"), ("2", "echo")]
    if seen not in (expected, [*expected, ("2", "completed")]) or not stream.complete:
        raise RuntimeError(f"{path} broke the contract: {seen}")


@contextlib.contextmanager
def postgres(wanted: bool, *, durable: bool = False) -> Iterator[str]:
    if not wanted:
        yield ""
        return
    sys.path.insert(0, str(ROOT))
    from tests.postgres import postgres_server

    with postgres_server(durable=durable) as server:
        yield server.url()


def parser(doc: str | None) -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(description=doc)
    found.add_argument("--variant", required=True)
    found.add_argument("--quick", action="store_true", help="a small load, for a smoke run")
    return found


def run_trial(args: argparse.Namespace, measure: Measure, *, serves_sse2: bool = True) -> None:
    if "-w" not in args.variant:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {LOAD_CORE})
    raise_nofile(60_000)
    probe = cpu_probe()
    with tempfile.TemporaryDirectory() as folder, postgres(args.variant.endswith("-pg")) as pg:
        server = start(args.variant, Path(folder), pg=pg)
        try:
            if serves_sse2:
                asyncio.run(
                    check_contract(server.port, "/bench/bare" if args.variant == "floor" else "/sse2")
                )
            gc.collect()
            gc.freeze()  # a full collection over 20k streams' objects would read as lateness
            result = asyncio.run(measure(server, args))
            result["server_errors"] = len(server.errors())
        finally:
            server.stop()
    print(json.dumps({"variant": args.variant, "probe": probe, **result}))
