"""The benchmark scenarios: each is an async trial run against one freshly started server.

A trial gets a listening `Server` and the scenario's parameters, warms the server up (which
also checks that it honours the `/sse2` contract) and returns a flat dict of numbers. `run.py`
starts a new server for every trial, alternates the two servers and takes medians, so adding a
scenario means writing one trial function and registering a `Scenario` in `SCENARIOS`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from _client import EventStream, PendingStream, cpu_seconds, gather_bounded, open_stream, send_request
from _servers import Server

PATH = "/sse2"
MESSAGE = "hello"

Params = dict[str, Any]
Trial = Callable[[Server, Params], Awaitable[dict[str, float]]]


class ContractError(AssertionError):
    """The server's `/sse2` stream differs from the contract both servers must honour."""


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    fmt: str = ",.0f"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    how: str
    trial: Trial
    params: Callable[[bool], Params]  # quick -> parameters
    metrics: tuple[Metric, ...]


def _check_echo(fields: dict[str, str] | None, index: int) -> None:
    if fields is None:
        raise ContractError(f"stream ended before event {index}")
    if fields.get("id") != str(index) or fields.get("event") != "echo":
        raise ContractError(f"event {index} has id/event {fields.get('id')!r}/{fields.get('event')!r}")
    data = json.loads(fields.get("data", "null"))
    if not isinstance(data, dict) or set(data) != {"message", "created_at"} or data["message"] != MESSAGE:
        raise ContractError(f"event {index} has data {fields.get('data')!r}")
    datetime.fromisoformat(data["created_at"])


async def check_contract(server: Server) -> None:
    """ids 0, 1, 2 named `echo` with the JSON payload; `limit` ends the stream; the first event comes
    one interval after the request and the next one interval later."""
    stream = await open_stream(
        server.host, server.port, PATH, {"message": MESSAGE, "interval": 0, "limit": 3}
    )
    try:
        async with asyncio.timeout(10):
            for index in range(3):
                _check_echo(await stream.next_event(), index)
            if await stream.next_event() is not None:
                raise ContractError("stream went on after `limit` events")
    finally:
        stream.close()

    interval, slack = 0.1, 0.01
    stream = await open_stream(
        server.host, server.port, PATH, {"message": MESSAGE, "interval": interval, "limit": 2}
    )
    try:
        async with asyncio.timeout(10):
            for index in range(2):
                _check_echo(await stream.next_event(), index)
                elapsed = time.perf_counter() - stream.sent_at
                if elapsed < (index + 1) * interval - slack:
                    raise ContractError(f"event {index} came {elapsed:.3f}s after the request")
    finally:
        stream.close()


async def _drain(server: Server, params: Params) -> tuple[int, int]:
    """Read a stream to its end: (events, socket reads)."""
    stream = await open_stream(server.host, server.port, PATH, params)
    try:
        return await stream.count_to_end(), stream.reads
    finally:
        stream.close()


async def settle(server: Server, *, quiet: float = 0.5, timeout: float = 10.0) -> None:
    """Poll until the server's thread count has not changed for `quiet` seconds (or `timeout` passed).

    Under Daphne each request's thread-sensitive executor thread exits a little after the request.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last, since = server.threads(), loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        now = server.threads()
        if now != last:
            last, since = now, loop.time()
        elif loop.time() - since >= quiet:
            return


async def warm_up(server: Server) -> None:
    """Check the contract, then run one long and a few concurrent short streams so that imports,
    caches and pools are in place before anything is measured; then let the threads settle."""
    async with asyncio.timeout(60):
        await check_contract(server)
        await _drain(server, {"message": MESSAGE, "interval": 0, "limit": 2000})
        await asyncio.gather(
            *(_drain(server, {"message": MESSAGE, "interval": 0, "limit": 100}) for _ in range(20))
        )
        await settle(server)


async def single_stream_throughput(server: Server, params: Params) -> dict[str, float]:
    await warm_up(server)
    events = params["events"]
    server_cpu0, client_cpu0, start = server.cpu_seconds(), cpu_seconds(), time.perf_counter()
    async with asyncio.timeout(params["timeout"]):
        count, reads = await _drain(server, {"message": MESSAGE, "interval": 0, "limit": events})
    seconds = time.perf_counter() - start
    server_cpu, client_cpu = server.cpu_seconds() - server_cpu0, cpu_seconds() - client_cpu0
    if count != events:
        raise ContractError(f"got {count} events for limit={events}")
    return {
        "events": count,
        "seconds": seconds,
        "events_per_s": count / seconds,
        "server_cpu_s": server_cpu,
        "server_cpu_per_10k": server_cpu / count * 10_000,
        "server_cpu_pct": 100 * server_cpu / seconds,
        "client_cpu_pct": 100 * client_cpu / seconds,
        "events_per_read": count / reads,
        "server_threads": server.threads(),
    }


async def idle_streams(server: Server, params: Params) -> dict[str, float]:
    """Open `streams` streams at `interval`, wait until each has its event 0, then read RSS and threads."""
    await warm_up(server)
    count, interval = params["streams"], params["interval"]
    rss0, threads0 = server.rss_kb(), server.threads()
    query = {"message": MESSAGE, "interval": interval}
    pending: list[PendingStream] = []
    streams: list[EventStream] = []

    async def connect() -> PendingStream:
        opened = await send_request(server.host, server.port, PATH, query)
        pending.append(opened)
        return opened

    async def first_event(opened: PendingStream) -> None:
        stream = await opened.response()
        streams.append(stream)
        _check_echo(await stream.next_event(), 0)

    start, client_cpu0 = time.perf_counter(), cpu_seconds()
    try:
        async with asyncio.timeout(interval + params["timeout"]):
            connects = await gather_bounded([connect] * count, concurrency=100)
            connected_s = time.perf_counter() - start
            waits = await gather_bounded([lambda o=o: first_event(o) for o in pending], concurrency=count)
        ready_s = time.perf_counter() - start
        failures = [r for r in (*connects, *waits) if isinstance(r, BaseException)]
        if failures:
            raise ContractError(f"{len(failures)} of {count} streams failed, first: {failures[0]!r}")
        server.check_alive()
        rss1, threads1 = server.rss_kb(), server.threads()
        client_cpu = cpu_seconds() - client_cpu0
    finally:
        for opened in pending:
            opened.writer.close()
    return {
        "streams": count,
        "interval": interval,
        "baseline_rss_mb": rss0 / 1024,
        "loaded_rss_mb": rss1 / 1024,
        "rss_per_stream_kb": (rss1 - rss0) / count,
        "threads_baseline": threads0,
        "threads_loaded": threads1,
        "threads_added": threads1 - threads0,
        "threads_per_stream": (threads1 - threads0) / count,
        "connect_s": connected_s,
        "all_first_event_s": ready_s,
        "start_all_s": ready_s - interval,
        "client_cpu_s": client_cpu,
    }


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            name="throughput",
            title="Single-stream throughput",
            how=(
                "One stream `/sse2?message=hello&interval=0&limit=N` read to its end by the raw asyncio "
                "client. events/s = N / wall time from connect to the last byte; server CPU = utime + "
                "stime of the server process over the same span (/proc/<pid>/stat). The server should use "
                "~100 % of its core (less: something else ran there), the client well under 100 % of its own."
            ),
            trial=single_stream_throughput,
            params=lambda quick: {"events": 5_000 if quick else 100_000, "timeout": 120},
            metrics=(
                Metric("events_per_s", "events/s"),
                Metric("server_cpu_per_10k", "server CPU s per 10k events", ".3f"),
                Metric("server_cpu_pct", "server CPU, % of its core"),
                Metric("client_cpu_pct", "client CPU, % of its core"),
                Metric("events_per_read", "events per client socket read", ".1f"),
                Metric("seconds", "wall time, s", ".2f"),
            ),
        ),
        Scenario(
            name="idle",
            title="Memory and threads per idle stream",
            how=(
                "After warm-up, read the server's VmRSS and thread count (/proc/<pid>/status, "
                "/proc/<pid>/task), open S streams `/sse2?message=hello&interval=I` (requests sent 100 "
                "at a time), wait until every one has received event 0, read them again. RSS per "
                "stream = RSS delta / S."
            ),
            trial=idle_streams,
            params=lambda quick: {
                "streams": 100 if quick else 1000,
                "interval": 1 if quick else 5,
                "timeout": 60,
            },
            metrics=(
                Metric("rss_per_stream_kb", "RSS per stream, KB", ".1f"),
                Metric("baseline_rss_mb", "RSS after warm-up, MB", ".1f"),
                Metric("loaded_rss_mb", "RSS with the streams open, MB", ".1f"),
                Metric("threads_baseline", "threads after warm-up"),
                Metric("threads_loaded", "threads with the streams open"),
                Metric("threads_per_stream", "OS threads added per stream", ".2f"),
                Metric("connect_s", "time to send every request, s", ".2f"),
                Metric("all_first_event_s", "time until every stream had event 0, s", ".2f"),
                Metric("start_all_s", "the same minus the interval: time to start every stream, s", ".2f"),
            ),
        ),
    )
}
