"""The trial functions: each runs against one freshly started server and returns a flat dict of numbers.

A trial gets a listening `Server` and its parameters (the scenario's, updated with the variant's
options), warms the server up (which also checks that it honours the `/sse2` contract where it
serves one) and measures. Every wait has a deadline; every loop is bounded in count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import uuid4

from _client import (
    EventStream,
    PendingStream,
    SourceAddresses,
    SSEConnection,
    block_fields,
    connect_sse,
    cpu_seconds,
    fail,
    gather_bounded,
    http_call,
    open_stream,
    send_request,
)
from _servers import Server

PATH = "/sse2"
MESSAGE = "hello"

Params = dict[str, Any]
Result = dict[str, float]
Trial = Callable[[Server, Params], Awaitable[Result]]


class ContractError(AssertionError):
    """The server's `/sse2` stream differs from the contract both servers must honour."""


class TrialError(RuntimeError):
    """The trial could not measure what it set out to (streams failed, events went missing...)."""


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# -- contract and warm-up ------------------------------------------------------------------------


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


async def cpu_quiet(
    server: Server, *, window: float = 0.3, busy: float = 0.03, timeout: float = 15.0
) -> None:
    """Poll until the server used less than `busy` CPU seconds over `window` (or `timeout` passed):
    the work a burst left behind (closing streams, writing session rows) is done."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = server.cpu_seconds()
    while loop.time() < deadline:
        await asyncio.sleep(window)
        now = server.cpu_seconds()
        if now - last < busy:
            return
        last = now


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


# -- throughput ----------------------------------------------------------------------------------


async def measure_single_stream(server: Server, events: int, timeout: float) -> Result:
    server_cpu0, client_cpu0, start = server.cpu_seconds(), cpu_seconds(), time.perf_counter()
    async with asyncio.timeout(timeout):
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


async def single_stream_throughput(server: Server, params: Params) -> Result:
    await warm_up(server)
    return await measure_single_stream(server, params["events"], params["timeout"])


class _CountingConnection(SSEConnection):
    """Counts event blocks (the base class does); closes when the server ends the body."""


async def concurrent_throughput(server: Server, params: Params) -> Result:
    """`streams` streams of `events / streams` events each at interval=0, all at once, read to their ends."""
    await warm_up(server)
    streams, per_stream = params["streams"], params["events"] // params["streams"]
    query = {"message": MESSAGE, "interval": 0, "limit": per_stream}
    sources = SourceAddresses()
    server_cpu0, client_cpu0, start = server.cpu_seconds(), cpu_seconds(), time.perf_counter()
    conns: list[_CountingConnection] = []
    try:
        async with asyncio.timeout(params["timeout"]):
            conns = list(
                await asyncio.gather(
                    *(
                        connect_sse(
                            _CountingConnection, server.host, server.port, PATH, query, local_host=sources()
                        )
                        for _ in range(streams)
                    )
                )
            )
            await asyncio.gather(*(conn.closed for conn in conns))
    finally:
        for conn in conns:
            conn.close()
    seconds = time.perf_counter() - start
    server_cpu, client_cpu = server.cpu_seconds() - server_cpu0, cpu_seconds() - client_cpu0
    counts = [conn.blocks for conn in conns]
    if min(counts) != per_stream:
        raise ContractError(f"streams got {min(counts)}..{max(counts)} events for limit={per_stream}")
    total = sum(counts)
    return {
        "streams": streams,
        "events": total,
        "seconds": seconds,
        "events_per_s": total / seconds,
        "server_cpu_per_10k": server_cpu / total * 10_000,
        "server_cpu_pct": 100 * server_cpu / seconds,
        "client_cpu_pct": 100 * client_cpu / seconds,
        "events_per_read": total / sum(conn.reads for conn in conns),
    }


# -- idle streams (memory and threads) -----------------------------------------------------------


async def idle_streams(server: Server, params: Params) -> Result:
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


# -- capacity: many streams at interval=1, lateness ----------------------------------------------


_CREATED = b'"created_at":"'


class _TimedConnection(SSEConnection):
    """Records (id, arrival, created) of every event with a numeric id, `created` being the payload's
    `created_at` (when the server made the event) as a timestamp; `first` resolves at the first one."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        self.arrivals: list[tuple[int, float, float]] = []
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_blocks(self, blocks: list[bytes], now: float) -> None:
        for block in blocks:
            start = block.find(b"id: ")
            if start < 0:
                continue  # a ping
            end = block.find(b"\n", start)
            created = block.find(_CREATED) + len(_CREATED)
            stamp = datetime.fromisoformat(block[created : block.find(b'"', created)].decode()).timestamp()
            self.arrivals.append((int(block[start + 4 : end if end >= 0 else None]), now, stamp))
        if self.arrivals and not self.first.done():
            self.first.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        fail(self.first, exc or TrialError("stream closed before its first event"))


async def _open_many(
    server: Server,
    factory: Callable[[bytes], SSEConnection],
    path: str,
    query: Params | None,
    count: int,
    *,
    in_flight: int,
    sources: SourceAddresses,
    out: list[Any],
) -> list[BaseException]:
    """Open `count` streams, at most `in_flight` waiting for their response head; append to `out`."""
    semaphore = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with semaphore:
            conn = await connect_sse(factory, server.host, server.port, path, query, local_host=sources())
            out.append(conn)
            await conn.head

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    return [r for r in results if isinstance(r, BaseException)]


class LoopLag:
    """How late this (the client's) event loop runs a 5 ms timer, until `stop()`: a busy or
    descheduled client shows here, and its delay is part of every lateness it measures."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.lags: list[float] = []
        self._stop = False
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop:
            due = loop.time() + self.period
            await asyncio.sleep(self.period)
            self.lags.append(max(0.0, loop.time() - due))

    async def stop(self) -> list[float]:
        self._stop = True
        await self._task
        return self.lags


def _lateness(
    conns: Sequence[_TimedConnection], interval: float, t0: float, t1: float, deadline: float
) -> tuple[list[float], list[float], int]:
    """Lateness of every event due in [t0, t1] on each stream, the same by the server's own clock
    (`created_at`), and how many of them never came (or came after `deadline`).

    A stream's schedule is start + (n + 1) * interval. Its `start` is estimated from the events
    themselves: the smallest arrival - (n + 1) * interval over all the events it received, i.e. the
    schedule set by its least delayed event. Lateness is thus the delay beyond that stream's best
    case: it shows a server falling behind or jittering, not the one-off cost of starting the
    stream (that is `first event delay`, measured from the request).
    The server-side lateness applies the same estimate to `created_at`: how late the server made
    the event, before any time spent writing it, in the network or in the client.
    """
    lateness: list[float] = []
    made_late: list[float] = []
    missing = 0
    for conn in conns:
        arrivals = conn.arrivals
        if not arrivals:
            missing += max(0, math.floor((t1 - t0) / interval))
            continue
        start = min(t - (n + 1) * interval for n, t, _ in arrivals)
        made = min(c - (n + 1) * interval for n, _, c in arrivals)
        first_n = max(0, math.ceil((t0 - start) / interval - 1))
        last_n = math.floor((t1 - start) / interval - 1)
        received = {n: (t, c) for n, t, c in arrivals}
        for n in range(first_n, last_n + 1):
            got = received.get(n)
            if got is None or got[0] > deadline:
                missing += 1
            else:
                lateness.append(got[0] - start - (n + 1) * interval)
                made_late.append(got[1] - made - (n + 1) * interval)
    return lateness, made_late, missing


async def _ramp(
    server: Server,
    conns: list[_TimedConnection],
    step: int,
    params: Params,
    sources: SourceAddresses,
) -> tuple[int, bool]:
    """Open streams until `step` are open and each new one has its event 0; returns (streams with
    event 0, stalled). The ramp gives up (stalled) when fewer than `min_open_rate` streams a second
    started over the last `rate_window` seconds, or after `open_timeout` seconds: the server cannot
    take more streams while serving the ones it has. Streams still starting then are closed."""
    new = len(conns)
    query = {"message": MESSAGE, "interval": params["interval"]}
    opening = asyncio.create_task(
        _open_many(
            server,
            _TimedConnection,
            PATH,
            query,
            step - new,
            in_flight=params["in_flight"],
            sources=sources,
            out=conns,
        )
    )
    loop = asyncio.get_running_loop()
    began = loop.time()
    history: list[tuple[float, int]] = []
    stalled = False
    try:
        while True:
            await asyncio.wait({opening}, timeout=0.5)
            if opening.done() and opening.result():
                failures = opening.result()
                raise TrialError(f"{len(failures)} of {step - new} streams failed, first: {failures[0]!r}")
            broken = [conn for conn in conns[new:] if conn.first.done() and conn.first.exception()]
            if broken:
                raise TrialError(
                    f"{len(broken)} streams closed before event 0: {broken[0].first.exception()!r}"
                )
            started = sum(1 for conn in conns[new:] if conn.first.done())
            if opening.done() and started == step - new:
                return step, False
            now = loop.time()
            history.append((now, started))
            window = [(t, n) for t, n in history if t >= now - params["rate_window"]]
            slow = now - began >= params["rate_window"] and (
                started - window[0][1] < params["min_open_rate"] * (now - window[0][0])
            )
            if slow or now - began >= params["open_timeout"]:
                stalled = True
                break
    finally:
        if not opening.done():
            opening.cancel()
            await asyncio.wait({opening})
    keep = [conn for conn in conns[new:] if conn.first.done()]
    for conn in conns[new:]:
        if not conn.first.done():
            conn.close()
    conns[new:] = keep
    return len(conns), stalled


async def capacity(server: Server, params: Params) -> Result:
    """Ramp up to each of `steps` concurrent streams at `interval`; at each, measure a window.

    A step the server cannot reach (see `_ramp`) is measured with the streams it did open, its
    unopened streams counted as missing every event of the window, and ends the ramp.
    """
    await warm_up(server)
    interval, window, grace = params["interval"], params["window"], params["grace"]
    rss0, threads0 = server.rss_kb(), server.threads()
    result: Result = {"baseline_rss_mb": rss0 / 1024, "threads_baseline": threads0}
    sources = SourceAddresses()
    conns: list[_TimedConnection] = []
    try:
        for step in params["steps"]:
            opened_at, new = time.perf_counter(), len(conns)
            opening = ThreadsPeak(server)
            try:
                opened, stalled = await _ramp(server, conns, step, params, sources)
            finally:
                threads_opening = await opening.stop()
            open_s = time.perf_counter() - opened_at
            server.check_alive()
            await asyncio.sleep(params["settle"])
            cpu_s0, cpu_c0, t0 = server.cpu_seconds(), cpu_seconds(), time.perf_counter()
            lag = LoopLag()
            await asyncio.sleep(window)
            t1 = time.perf_counter()
            cpu_s1, cpu_c1, rss, threads = (
                server.cpu_seconds(),
                cpu_seconds(),
                server.rss_kb(),
                server.threads(),
            )
            lags = await lag.stop()
            await asyncio.sleep(grace)
            lateness, made_late, missing = _lateness(conns, interval, t0, t1, t1 + grace)
            missing += (step - opened) * math.floor((t1 - t0) / interval)  # streams that never opened
            first_delay = [conn.arrivals[0][1] - conn.sent_at - interval for conn in conns[new:]]
            result |= {
                f"opened_{step}": opened,
                f"open_s_{step}": open_s,
                f"open_rate_{step}": (opened - new) / open_s,
                f"p50_ms_{step}": 1000 * percentile(lateness, 50),
                f"p99_ms_{step}": 1000 * percentile(lateness, 99),
                f"max_ms_{step}": 1000 * max(lateness, default=math.nan),
                f"server_p99_ms_{step}": 1000 * percentile(made_late, 99),
                f"client_lag_p99_ms_{step}": 1000 * percentile(lags, 99),
                f"client_lag_max_ms_{step}": 1000 * max(lags, default=math.nan),
                f"events_{step}": len(lateness),
                f"missing_{step}": missing,
                f"first_delay_p99_ms_{step}": 1000 * percentile(first_delay, 99),
                f"rss_mb_{step}": rss / 1024,
                f"rss_kb_per_stream_{step}": (rss - rss0) / opened,
                f"threads_{step}": threads,
                f"threads_peak_opening_{step}": threads_opening,
                f"server_cpu_pct_{step}": 100 * (cpu_s1 - cpu_s0) / (t1 - t0),
                f"server_cpu_ms_per_event_{step}": 1000 * (cpu_s1 - cpu_s0) / ((t1 - t0) / interval * opened),
                f"client_cpu_pct_{step}": 100 * (cpu_c1 - cpu_c0) / (t1 - t0),
            }
            p99, cpu = result[f"p99_ms_{step}"], result[f"server_cpu_pct_{step}"]
            print(
                f"            {step} streams: {'STALLED at ' if stalled else ''}{opened} open, "
                f"p99 lateness {p99:.1f} ms, missing {missing}, opened in {open_s:.1f}s, "
                f"server CPU {cpu:.0f} %",
                flush=True,
            )
            if stalled:
                break
        closed = [conn for conn in conns if conn.closed.done()]
        if closed:
            raise TrialError(f"{len(closed)} streams are closed although never asked to")
    finally:
        for conn in conns:
            conn.close()
    # Closing 10k connections is work for the server; let it finish before SIGTERM.
    await cpu_quiet(server, timeout=30)
    return result


# -- churn: connect, read one event, disconnect --------------------------------------------------


class _FirstEventConnection(SSEConnection):
    """Closes the connection as soon as the first event with an id arrives."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_blocks(self, blocks: list[bytes], now: float) -> None:
        if not self.first.done() and any(b"id: " in block for block in blocks):
            self.first.set_result(None)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        fail(self.first, exc or TrialError("stream closed before its first event"))


def _sessions(server: Server) -> int | None:
    """Rows in the project's StreamSession table (None for a server without one)."""
    if (url := server.database_url) is not None:
        import psycopg

        with psycopg.connect(url) as db:
            row = db.execute("SELECT COUNT(*) FROM echo_sessions_streamsession").fetchone()
            return None if row is None else int(row[0])
    if not server.kind.name.startswith("project") or not server.sqlite_path.exists():
        return None
    with sqlite3.connect(f"file:{server.sqlite_path}?mode=ro", uri=True, timeout=10) as db:
        return int(db.execute("SELECT COUNT(*) FROM echo_sessions_streamsession").fetchone()[0])


async def measure_churn(
    server: Server,
    cycles: int,
    concurrency: int,
    interval: float,
    timeout: float,
    *,
    recorded: bool = True,
) -> Result:
    """`cycles` times: connect (from a rotating source address), GET /sse2, read event 0, close;
    `concurrency` at a time. Then wait until the server's CPU is quiet again and, where the
    streams are `recorded`, until their session rows are written; count the rows written."""
    sources = SourceAddresses()
    query = {"message": MESSAGE, "interval": interval}
    durations: list[float] = []
    errors: list[BaseException] = []
    remaining = cycles

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and len(errors) < 10:
            remaining -= 1
            began = time.perf_counter()
            conn: _FirstEventConnection | None = None
            try:
                conn = await connect_sse(
                    _FirstEventConnection, server.host, server.port, PATH, query, local_host=sources()
                )
                await asyncio.wait_for(conn.first, 30)
                durations.append(time.perf_counter() - began)
            except Exception as exc:
                errors.append(exc)
            finally:
                if conn is not None:
                    conn.close()

    sessions0 = _sessions(server)
    server_cpu0, client_cpu0, start = server.cpu_seconds(), cpu_seconds(), time.perf_counter()
    async with asyncio.timeout(timeout):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    server_cpu, client_cpu = server.cpu_seconds() - server_cpu0, cpu_seconds() - client_cpu0
    if errors:
        raise TrialError(f"{len(errors)} cycles failed, first: {errors[0]!r}")
    await cpu_quiet(server)
    server_cpu_total = server.cpu_seconds() - server_cpu0
    result: Result = {
        "cycles": len(durations),
        "seconds": seconds,
        "cycles_per_s": len(durations) / seconds,
        "cycle_p50_ms": 1000 * percentile(durations, 50),
        "cycle_p99_ms": 1000 * percentile(durations, 99),
        "server_cpu_ms_per_cycle": 1000 * server_cpu / len(durations),
        "server_cpu_ms_per_cycle_total": 1000 * server_cpu_total / len(durations),
        "server_cpu_pct": 100 * server_cpu / seconds,
        "client_cpu_pct": 100 * client_cpu / seconds,
    }
    if sessions0 is not None:
        # The recorder writes from its own thread, in batches: poll until every row is in, or
        # the count has not moved for a second (recording off: it never moves).
        loop = asyncio.get_running_loop()
        deadline, sessions, still_since = loop.time() + 10, _sessions(server) or 0, loop.time()
        while recorded and sessions - sessions0 < len(durations) and loop.time() < deadline:
            await asyncio.sleep(0.2)
            now = _sessions(server) or 0
            if now != sessions:
                sessions, still_since = now, loop.time()
            elif loop.time() - still_since >= 1.0:
                break
        result["sessions_recorded"] = sessions - sessions0
    return result


async def churn(server: Server, params: Params) -> Result:
    await warm_up(server)
    return await measure_churn(
        server, params["cycles"], params["concurrency"], params["interval"], params["timeout"]
    )


# -- session recording on / off -------------------------------------------------------------------


async def _record(server: Server, on: bool) -> None:
    status, body = await http_call(server.host, server.port, "POST", f"/bench/recording?on={int(on)}")
    if status != 200 or json.loads(body) != {"recording": on}:
        raise TrialError(f"/bench/recording?on={int(on)} answered {status} {body!r}")


def _pairs(count: int) -> Iterator[tuple[int, bool]]:
    """(pair, on) for `count` pairs of rounds, on first in every other pair: on, off, off, on..."""
    for pair in range(count):
        for on in (True, False) if pair % 2 == 0 else (False, True):
            yield pair, on


METRICS_TOKEN = "bench-metrics"  # django_bench.settings


async def _scrape(server: Server, interval: float, counts: dict[str, int]) -> None:
    """GET /metrics every `interval` seconds (Prometheus' default is 15) until cancelled."""
    headers = f"Authorization: Bearer {METRICS_TOKEN}\r\n"
    while True:
        status, body = await http_call(server.host, server.port, "GET", "/metrics", headers=headers)
        if status != 200 or b"echo_streams_opened_total" not in body:
            raise TrialError(f"/metrics answered {status}")
        counts["scrapes"] += 1
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def _scraping(server: Server, interval: float, on: bool, counts: dict[str, int]) -> AsyncIterator[None]:
    if not on:
        yield
        return
    task = asyncio.create_task(_scrape(server, interval, counts))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _cost(on: float, off: float) -> float:
    return 100 * (1 - on / off) if off else math.nan


async def recording_cost(server: Server, params: Params) -> Result:
    """Session recording on against off in one server, round by round (on, off, then off, on...):
    single-stream rounds, then churn rounds. Recording is switched in the server between rounds
    (`/bench/recording`), so both sides share the process, its database and, above all, the
    moment: this machine's speed drifts by tens of percent within seconds, and rounds side by side
    see the same drift where trials on separate servers tens of seconds apart do not. Each side's
    rate is its total count over its total time. `control` records on both sides: the same
    measurement of two equal halves, i.e. its own noise."""
    await warm_up(server)
    control = bool(params["control"])
    sides: dict[bool, dict[str, float]] = {
        on: dict.fromkeys(("events", "stream_s", "cycles", "churn_s", "churn_cpu_s", "rows"), 0.0)
        for on in (True, False)
    }
    counts = {"scrapes": 0}
    scrape = params["scrape_interval"]
    for _, on in _pairs(params["throughput_rounds"]):
        await _record(server, on or control)
        async with _scraping(server, scrape, on or control, counts):
            one = await measure_single_stream(server, params["events"], params["timeout"])
        await cpu_quiet(server)
        sides[on]["events"] += one["events"]
        sides[on]["stream_s"] += one["seconds"]
    rates: dict[tuple[int, bool], float] = {}
    for pair, on in _pairs(params["churn_rounds"]):
        await _record(server, on or control)
        async with _scraping(server, scrape, on or control, counts):
            churned = await measure_churn(
                server,
                params["cycles"],
                params["concurrency"],
                params["interval"],
                params["timeout"],
                recorded=on or control,
            )
        side = sides[on]
        side["cycles"] += churned["cycles"]
        side["churn_s"] += churned["seconds"]
        side["churn_cpu_s"] += churned["server_cpu_ms_per_cycle_total"] * churned["cycles"] / 1000
        side["rows"] += churned["sessions_recorded"]
        rates[pair, on] = churned["cycles_per_s"]
    pair_ratios = [rates[pair, True] / rates[pair, False] for pair in range(params["churn_rounds"])]
    await _record(server, True)
    on, off = sides[True], sides[False]
    events_on, events_off = on["events"] / on["stream_s"], off["events"] / off["stream_s"]
    cycles_on, cycles_off = on["cycles"] / on["churn_s"], off["cycles"] / off["churn_s"]
    cpu_on, cpu_off = on["churn_cpu_s"] / on["cycles"], off["churn_cpu_s"] / off["cycles"]
    return {
        "events_per_s_on": events_on,
        "events_per_s_off": events_off,
        "throughput_cost_pct": _cost(events_on, events_off),
        "cycles_per_s_on": cycles_on,
        "cycles_per_s_off": cycles_off,
        "churn_cost_pct": _cost(cycles_on, cycles_off),
        # Server CPU per connect until quiet: includes the rows written after a round's last connect.
        "churn_cpu_cost_pct": _cost(1 / cpu_on, 1 / cpu_off),
        "churn_pair_ratio_min": min(pair_ratios),
        "churn_pair_ratio_max": max(pair_ratios),
        "rows_per_cycle_on": on["rows"] / on["cycles"],
        "rows_per_cycle_off": off["rows"] / off["cycles"],
        "metrics_scrapes": counts["scrapes"],
    }


# -- fan-out: one broadcast channel, many subscribers ---------------------------------------------

TICK = b"bench_tick"


class _Subscriber(SSEConnection):
    """A broadcast subscriber: `opened` at `stream-open`; per `bench_tick` event its seq and latency."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.seqs: set[int] = set()
        self.duplicates = 0
        self.latencies: list[float] = []  # seconds, in arrival order
        self.last_arrival = 0.0  # time.time() of the latest bench_tick
        self.waiter: tuple[int, asyncio.Future[None]] | None = None  # (count, future)

    def on_blocks(self, blocks: list[bytes], now: float) -> None:
        wall = time.time()
        for block in blocks:
            fields = block_fields(block)
            event = fields.get(b"event")
            if event == TICK:
                data = json.loads(fields[b"data"])
                if data["seq"] in self.seqs:
                    self.duplicates += 1
                    continue
                self.seqs.add(data["seq"])
                self.latencies.append(wall - data["sent"])
                self.last_arrival = wall
            elif event == b"stream-open" and not self.opened.done():
                self.opened.set_result(None)
        if self.waiter is not None and len(self.seqs) >= self.waiter[0] and not self.waiter[1].done():
            self.waiter[1].set_result(None)

    def wait_for(self, count: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if len(self.seqs) >= count:
            future.set_result(None)
        else:
            self.waiter = (count, future)
        return future

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        error = exc or TrialError("subscriber stream closed")
        fail(self.opened, error)
        if self.waiter is not None:
            fail(self.waiter[1], error)


async def _publish(server: Server, channel: str, mode: str, count: int, rate: float, first: int) -> float:
    status, body = await http_call(
        server.host,
        server.port,
        "POST",
        f"/bench/publish?channel={channel}&n={count}&mode={mode}&rate={rate}&first={first}",
    )
    if status != 200:
        raise TrialError(f"publish answered {status}: {body[:300]!r}")
    return float(json.loads(body)["seconds"])


class ThreadsPeak:
    """Samples the server's thread count every 50 ms from creation until `stop()`; keeps the peak."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = server.threads()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):  # the process may be exiting
                self.peak = max(self.peak, self.server.threads())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.05)

    async def stop(self) -> int:
        self._stop.set()
        await self._task
        return self.peak


async def _phase(
    server: Server,
    subs: list[_Subscriber],
    channel: str,
    mode: str,
    count: int,
    rate: float,
    first: int,
    timeout: float,
) -> tuple[float, float, list[float], int]:
    """Publish `count` events and wait until every subscriber has them: (start, publish seconds,
    latencies of this phase, subscribers still missing events at the deadline)."""
    before = [len(sub.latencies) for sub in subs]
    expected = [len(sub.seqs) + count for sub in subs]
    started = time.time()
    waits = [sub.wait_for(n) for sub, n in zip(subs, expected, strict=True)]
    publish_s = await _publish(server, channel, mode, count, rate, first)
    done, pending = await asyncio.wait(waits, timeout=timeout)
    for future in pending:
        future.cancel()
    failed = [f for f in done if f.exception() is not None]
    if failed:
        raise TrialError(f"{len(failed)} subscribers lost their stream: {failed[0].exception()!r}")
    latencies = [lat for sub, n in zip(subs, before, strict=True) for lat in sub.latencies[n:]]
    return started, publish_s, latencies, len(pending)


async def fanout(server: Server, params: Params) -> Result:
    """`subscribers` clients on one channel; a paced phase for latency, then a burst for deliveries/s."""
    mode, count = params["mode"], params["subscribers"]
    path = {"ours": "/events/{}/", "stock": "/stock/events/{}/"}[mode]
    channel = f"bench-{uuid4().hex[:8]}"
    sources = SourceAddresses()
    subs: list[_Subscriber] = []
    sampler: ThreadsPeak | None = None
    try:
        # Warm-up: one subscriber, a few events through the same path, then let threads settle.
        async with asyncio.timeout(30):
            probe = await connect_sse(_Subscriber, server.host, server.port, path.format(channel))
            await probe.opened
            await _publish(server, channel, mode, 5, 0, 0)
            await probe.wait_for(5)
            probe.close()
            await settle(server)
        rss0, threads0 = server.rss_kb(), server.threads()
        connecting = ThreadsPeak(server)
        cpu_s0, cpu_c0, opened_at = server.cpu_seconds(), cpu_seconds(), time.perf_counter()
        async with asyncio.timeout(params["timeout"]):
            failures = await _open_many(
                server,
                _Subscriber,
                path.format(channel),
                None,
                count,
                in_flight=100,
                sources=sources,
                out=subs,
            )
            if failures:
                raise TrialError(f"{len(failures)} of {count} subscribers failed, first: {failures[0]!r}")
            await asyncio.gather(*(sub.opened for sub in subs))
        subscribe_s = time.perf_counter() - opened_at
        await settle(server, timeout=5)
        await connecting.stop()
        rss1, threads1 = server.rss_kb(), server.threads()
        sampler = ThreadsPeak(server)

        _, _, paced, paced_missing = await _phase(
            server,
            subs,
            channel,
            mode,
            params["paced_events"],
            params["paced_rate"],
            1_000,
            params["timeout"],
        )
        started, burst_publish_s, burst, burst_missing = await _phase(
            server, subs, channel, mode, params["burst_events"], 0, 1_000_000, params["timeout"]
        )
        finished = max(sub.last_arrival for sub in subs)
        seconds = time.perf_counter() - opened_at
        cpu_s, cpu_c = server.cpu_seconds() - cpu_s0, cpu_seconds() - cpu_c0
    finally:
        if sampler is not None:
            await sampler.stop()
        for sub in subs:
            sub.close()
    if paced_missing or burst_missing:
        raise TrialError(
            f"subscribers missing events at the deadline: {paced_missing} (paced), {burst_missing} (burst)"
        )
    deliveries = count * params["burst_events"]
    await cpu_quiet(server)
    return {
        "subscribers": count,
        "deliveries_per_s": deliveries / (finished - started),
        "burst_s": finished - started,
        "burst_publish_s": burst_publish_s,
        "burst_p50_ms": 1000 * percentile(burst, 50),
        "burst_p99_ms": 1000 * percentile(burst, 99),
        "paced_p50_ms": 1000 * percentile(paced, 50),
        "paced_p99_ms": 1000 * percentile(paced, 99),
        "paced_max_ms": 1000 * max(paced),
        "duplicates": sum(sub.duplicates for sub in subs),
        "subscribe_s": subscribe_s,
        "threads_baseline": threads0,
        "threads_subscribed": threads1,
        "threads_peak_connecting": connecting.peak,
        "threads_peak_publishing": sampler.peak,
        "threads_added": max(sampler.peak, threads1) - threads0,
        "threads_per_subscriber": (max(sampler.peak, threads1) - threads0) / count,
        "rss_kb_per_subscriber": (rss1 - rss0) / count,
        "server_cpu_pct": 100 * cpu_s / seconds,
        "server_cpu_ms_per_delivery": 1000
        * cpu_s
        / (count * (params["paced_events"] + params["burst_events"])),
        "client_cpu_pct": 100 * cpu_c / seconds,
    }


# -- the project under uvicorn ---------------------------------------------------------------------


async def uvicorn_smoke(server: Server, params: Params) -> Result:
    """The `/sse2` contract, one stream of `events` events and `streams` concurrent short streams."""
    await warm_up(server)
    result = await measure_single_stream(server, params["events"], params["timeout"])
    async with asyncio.timeout(params["timeout"]):
        counts = await asyncio.gather(
            *(
                _drain(server, {"message": MESSAGE, "interval": 0, "limit": 50})
                for _ in range(params["streams"])
            )
        )
    if any(events != 50 for events, _ in counts):
        raise ContractError(f"concurrent streams got {sorted({e for e, _ in counts})} events for limit=50")
    return {"contract_ok": 1, "events_per_s": result["events_per_s"], "concurrent_streams_ok": len(counts)}
