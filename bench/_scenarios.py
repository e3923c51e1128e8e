"""The benchmark's scenarios: what each measures, on which servers, and the issue's targets.

A scenario is a trial function (`_trials.py`) run against each of its variants: a variant names a
server kind (`_servers.KINDS`) and options merged into the trial's parameters. Most scenarios
compare the project with the reference; fan-out compares two endpoints of the project, the
recording scenario the project with session recording on and off. `run.py` runs every variant
of a scenario in turn (the order flipping each run) and takes medians; a `Target` reads those
medians and says PASS or MISS. Adding a scenario means writing one trial function and
registering a `Scenario` here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import _trials
from _trials import Params, Trial

Summaries = dict[str, dict[str, Any]]  # variant name -> summary (see _report.summarize)


@dataclass(frozen=True)
class Metric:
    """A row of a scenario's table. A key with `{step}` is one value per step (capacity)."""

    key: str
    label: str
    fmt: str = ",.0f"


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    server: str  # a key of _servers.KINDS
    options: Params = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    measured: str
    passed: bool | None  # None: not measured
    context: str = ""


@dataclass(frozen=True)
class Target:
    group: str
    requirement: str
    goal: str
    evaluate: Callable[[Summaries, Params], Verdict]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    how: str
    trial: Trial
    params: Callable[[bool], Params]  # quick -> parameters
    metrics: tuple[Metric, ...]
    variants: tuple[Variant, ...]
    targets: tuple[Target, ...] = ()
    runs: int | None = None  # runs per variant when not the command line's (a one-off check)
    default: bool = True  # part of a run that names no scenario
    ratio: bool = True  # a column of first / second variant (not when they are not two servers)


PROJECT = Variant("project", "Daphne + Django (project)", "project")
REFERENCE = Variant("reference", "uvicorn + FastAPI + sse-starlette", "reference")
VERSUS_REFERENCE = (PROJECT, REFERENCE)


# -- reading the medians -------------------------------------------------------------------------


def stat(summaries: Summaries, variant: str, key: str, which: str = "median") -> float | None:
    value = summaries.get(variant, {}).get(key)
    if not value or value[which] is None or math.isnan(value[which]):
        return None
    return float(value[which])


def top_step(params: Params) -> int:
    return int(max(params["steps"]))


def ratio_target(
    group: str,
    requirement: str,
    key: str,
    goal: float,
    num: str = "project",
    den: str = "reference",
    *,
    cost_key: str | None = None,
) -> Target:
    """num / den of the medians of a higher-is-better metric must be >= goal. `cost_key` (server
    CPU per unit of work) is shown beside it: on a shared machine it is steadier than a rate."""

    def evaluate(summaries: Summaries, params: Params) -> Verdict:
        a, b = stat(summaries, num, key), stat(summaries, den, key)
        if a is None or b is None or b == 0:
            return Verdict("n/a", None)
        context = f"{num} {a:,.0f}, {den} {b:,.0f}"
        if cost_key is not None:
            ca, cb = stat(summaries, num, cost_key), stat(summaries, den, cost_key)
            if ca and cb:
                context += f"; server CPU per unit of work, {num} / {den}: {ca / cb:.2f}"
        return Verdict(f"{a / b:.2f}x", a / b >= goal, context)

    return Target(group, requirement, f">= {goal:g}x", evaluate)


def limit_target(
    group: str,
    requirement: str,
    key: Callable[[Params], str],
    goal: float,
    variant: str,
    *,
    which: str = "median",
    fmt: str = ",.1f",
    compare_with: str | None = None,
) -> Target:
    """The variant's value (median, or max over runs) must be <= goal."""

    def evaluate(summaries: Summaries, params: Params) -> Verdict:
        value = stat(summaries, variant, key(params), which)
        if value is None:
            return Verdict("n/a", None)
        context = ""
        if compare_with is not None:
            other = stat(summaries, compare_with, key(params), which)
            context = f"{compare_with}: {'n/a' if other is None else format(other, fmt)}"
        return Verdict(format(value, fmt), value <= goal, context)

    return Target(group, requirement, f"<= {goal:{fmt}}", evaluate)


def cost_target(group: str, requirement: str, key: str, goal_pct: float) -> Target:
    """Recording's cost (`key`, 1 - on / off in percent, measured within each trial) must be
    <= goal in the median over runs; the control's figure (both halves recording) is shown with
    it as the measurement's own noise."""

    def evaluate(summaries: Summaries, params: Params) -> Verdict:
        cost, control = stat(summaries, "paired", key), stat(summaries, "control", key)
        if cost is None:
            return Verdict("n/a", None)
        noise = "n/a" if control is None else f"{control:+.1f} %"
        return Verdict(f"{cost:+.1f} %", cost <= goal_pct, f"control (on against on) {noise}")

    return Target(group, requirement, f"<= {goal_pct:g} %", evaluate)


def works_target(group: str, requirement: str, variant: str) -> Target:
    def evaluate(summaries: Summaries, params: Params) -> Verdict:
        summary = summaries.get(variant, {})
        runs, errors = summary.get("runs", 0), summary.get("errors", 0)
        if not runs and not errors:
            return Verdict("n/a", None)
        return Verdict(f"{runs} ok, {errors} failed", runs > 0 and errors == 0)

    return Target(group, requirement, "works", evaluate)


def _all_opened(summaries: Summaries, params: Params) -> Verdict:
    step = top_step(params)
    opened = stat(summaries, "project", f"opened_{step}", "min")
    if opened is None:
        return Verdict("n/a", None)
    other = stat(summaries, "reference", f"opened_{step}", "min")
    context = f"reference: {'n/a' if other is None else f'{other:,.0f}'}"
    return Verdict(f"{opened:,.0f} of {step:,}", opened >= step, context)


# -- the scenarios ---------------------------------------------------------------------------------

THROUGHPUT_METRICS = (
    Metric("events_per_s", "events/s"),
    Metric("server_cpu_per_10k", "server CPU s per 10k events", ".3f"),
    Metric("server_cpu_pct", "server CPU, % of its core"),
    Metric("client_cpu_pct", "client CPU, % of its core"),
    Metric("events_per_read", "events per client socket read", ".1f"),
    Metric("seconds", "wall time, s", ".2f"),
)

CAPACITY_METRICS = (
    Metric("p99_ms_{step}", "p99 lateness, ms", ",.1f"),
    Metric("p50_ms_{step}", "p50 lateness, ms", ",.1f"),
    Metric("max_ms_{step}", "max lateness, ms", ",.0f"),
    Metric("server_p99_ms_{step}", "p99 lateness by the payload's created_at (server side), ms", ",.1f"),
    Metric("client_lag_p99_ms_{step}", "client event-loop lag in the window, p99, ms", ",.1f"),
    Metric("client_lag_max_ms_{step}", "client event-loop lag in the window, max, ms", ",.1f"),
    Metric("events_{step}", "events due in the window, received"),
    Metric("missing_{step}", "events due in the window, missing"),
    Metric("rss_kb_per_stream_{step}", "server RSS per stream, KB", ".1f"),
    Metric("threads_{step}", "server OS threads in the window"),
    Metric("threads_peak_opening_{step}", "server OS threads, peak while opening (transient)"),
    Metric("server_cpu_pct_{step}", "server CPU in the window, % of its core"),
    Metric("client_cpu_pct_{step}", "client CPU in the window, % of its core"),
    Metric("opened_{step}", "streams open (with event 0) at this step"),
    Metric("open_s_{step}", "time to open this step's streams (to their event 0), s", ".1f"),
    Metric("open_rate_{step}", "streams opened per second at this step"),
    Metric("server_cpu_ms_per_event_{step}", "server CPU ms per event in the window", ".3f"),
    Metric("first_delay_p99_ms_{step}", "p99 first-event delay after the request - interval, ms", ",.0f"),
)

CHURN_METRICS = (
    Metric("cycles_per_s", "connects/s (connect, event 0, close)"),
    Metric("cycle_p50_ms", "p50 cycle time, ms", ".1f"),
    Metric("cycle_p99_ms", "p99 cycle time, ms", ".1f"),
    Metric("server_cpu_ms_per_cycle", "server CPU ms per cycle (during the run)", ".2f"),
    Metric("server_cpu_ms_per_cycle_total", "server CPU ms per cycle (until the server is quiet)", ".2f"),
    Metric("server_cpu_pct", "server CPU, % of its core"),
    Metric("client_cpu_pct", "client CPU, % of its core"),
    Metric("sessions_recorded", "StreamSession rows written"),
)

FANOUT_METRICS = (
    Metric("deliveries_per_s", "deliveries/s (burst)"),
    Metric("server_cpu_ms_per_delivery", "server CPU ms per delivery (whole trial)", ".3f"),
    Metric("burst_s", "burst: first publish to last delivery, s", ".2f"),
    Metric("burst_publish_s", "burst: time to publish, s", ".2f"),
    Metric("burst_p50_ms", "burst: p50 publish-to-receive, ms", ",.0f"),
    Metric("burst_p99_ms", "burst: p99 publish-to-receive, ms", ",.0f"),
    Metric("paced_p50_ms", "paced: p50 publish-to-receive, ms", ",.1f"),
    Metric("paced_p99_ms", "paced: p99 publish-to-receive, ms", ",.1f"),
    Metric("paced_max_ms", "paced: max publish-to-receive, ms", ",.1f"),
    Metric("duplicates", "duplicate deliveries"),
    Metric("subscribe_s", "time to subscribe everyone, s", ".2f"),
    Metric("threads_baseline", "server threads before subscribing"),
    Metric("threads_subscribed", "server threads, everyone subscribed"),
    Metric("threads_peak_connecting", "server threads, peak while subscribers connect (transient)"),
    Metric("threads_peak_publishing", "server threads, peak while publishing"),
    Metric("threads_added", "OS threads added (subscribed or publishing, over the baseline)"),
    Metric("threads_per_subscriber", "OS threads added per subscriber", ".3f"),
    Metric("rss_kb_per_subscriber", "server RSS per subscriber, KB", ".1f"),
    Metric("server_cpu_pct", "server CPU, % of its core"),
    Metric("client_cpu_pct", "client CPU, % of its core"),
)

RECORDING_METRICS = (
    Metric("events_per_s_on", "single stream: events/s, recording and metrics on"),
    Metric("events_per_s_off", "single stream: events/s, recording and metrics off"),
    Metric("throughput_cost_pct", "single stream: cost of recording + metrics, % (1 - on / off)", "+.1f"),
    Metric("cycles_per_s_on", "churn: connects/s, recording and metrics on"),
    Metric("cycles_per_s_off", "churn: connects/s, recording and metrics off"),
    Metric("churn_cost_pct", "churn: cost of recording + metrics, % (1 - on / off)", "+.1f"),
    Metric("churn_cpu_cost_pct", "churn: cost in server CPU per connect until quiet, %", "+.1f"),
    Metric("churn_pair_ratio_min", "churn: lowest on / off of a pair of rounds", ".2f"),
    Metric("churn_pair_ratio_max", "churn: highest on / off of a pair of rounds", ".2f"),
    Metric("rows_per_cycle_on", "churn: StreamSession rows per connect, on side", ".2f"),
    Metric("rows_per_cycle_off", "churn: StreamSession rows per connect, off side", ".2f"),
)

_GROUP_1 = "1. Throughput"
_GROUP_2 = "2. Capacity"
_GROUP_3 = "3. Churn"
_GROUP_4 = "4. Fan-out"
_GROUP_5 = "5. Session recording and metrics cost"
_GROUP_6 = "6. Compatibility"


def _churn_scenario(name: str, title: str, how: str, interval: float, requirement: str) -> Scenario:
    return Scenario(
        name=name,
        title=title,
        how=how,
        trial=_trials.churn,
        params=lambda quick: {
            "cycles": 300 if quick else 3000,
            "concurrency": 20 if quick else 50,
            "interval": interval,
            "timeout": 120,
        },
        metrics=CHURN_METRICS,
        variants=VERSUS_REFERENCE,
        targets=(
            ratio_target(
                _GROUP_3, requirement, "cycles_per_s", 1.0, cost_key="server_cpu_ms_per_cycle_total"
            ),
        ),
    )


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
            trial=_trials.single_stream_throughput,
            params=lambda quick: {"events": 5_000 if quick else 50_000, "timeout": 120},
            metrics=THROUGHPUT_METRICS,
            variants=VERSUS_REFERENCE,
            targets=(
                ratio_target(
                    _GROUP_1,
                    "one stream `/sse2?interval=0`: events/s, project / reference",
                    "events_per_s",
                    1.5,
                    cost_key="server_cpu_per_10k",
                ),
            ),
        ),
        Scenario(
            name="throughput20",
            title="20 concurrent streams: throughput",
            how=(
                "20 streams `/sse2?message=hello&interval=0&limit=N/20` opened at once by the asyncio "
                "Protocol client, each read to its end. events/s = N / wall time from the first connect to "
                "the end of the last stream; CPU as for `throughput`."
            ),
            trial=_trials.concurrent_throughput,
            params=lambda quick: {"streams": 20, "events": 5_000 if quick else 50_000, "timeout": 120},
            metrics=THROUGHPUT_METRICS,
            variants=VERSUS_REFERENCE,
            targets=(
                ratio_target(
                    _GROUP_1,
                    "20 concurrent streams: events/s, project / reference",
                    "events_per_s",
                    1.5,
                    cost_key="server_cpu_per_10k",
                ),
            ),
        ),
        Scenario(
            name="capacity",
            title="Capacity: many concurrent streams at interval=1, lateness",
            how=(
                "One trial per server ramps up through the steps. At each step it opens streams "
                "`/sse2?message=hello&interval=1` (at most `in_flight` waiting for their response head; "
                "client sockets bound to 127.0.0.2..127.0.0.51 in turn) until the step's count is open and "
                "every new stream has its event 0. If fewer than `min_open_rate` streams/s start over "
                "`rate_window` s (or `open_timeout` s pass), the server cannot take more streams while "
                "serving the ones it has: the step is **stalled**, measured with the streams it did open "
                "(the rest count as missing every event of the window) and the ramp ends. Then it waits "
                "`settle` s, measures a `window`-second window and waits `grace` s more. Every event "
                "due in the window (a stream's schedule is start + (n+1)*interval) must arrive by the end "
                "of the grace, else it is `missing`. **Lateness** = arrival - (start + (n+1)*interval), "
                "where a stream's `start` is derived from its own events: the smallest arrival - "
                "(n+1)*interval over all its events, i.e. the schedule its least delayed event set. "
                "Lateness is thus how far an event fell behind that stream's best case (a server falling "
                "behind, or stalls), not the one-off cost of starting the stream in a connection storm, "
                "which is the `first-event delay` row (event 0 arrival - request sent - interval). The "
                "same estimate applied to the payload's `created_at` gives the server-side share. RSS per "
                "stream = (RSS at the step - RSS after warm-up) / open streams. The client is one asyncio "
                "process reading with Protocols, pinned to core 1, cyclic GC off during the trial; its "
                "CPU share and event-loop lag in the window show whether it kept up."
            ),
            trial=_trials.capacity,
            params=lambda quick: {
                "steps": [100, 300] if quick else [1000, 2000, 5000, 10000],
                "interval": 1,
                "window": 1.5 if quick else 3,
                "settle": 0.5,
                "grace": 1.2,
                "in_flight": 100,
                "min_open_rate": 50,
                "rate_window": 5,
                "open_timeout": 30 if quick else 60,
            },
            metrics=CAPACITY_METRICS,
            variants=VERSUS_REFERENCE,
            targets=(
                Target(_GROUP_2, "streams open at the largest step (min over runs)", "all", _all_opened),
                limit_target(
                    _GROUP_2,
                    "events due in the window that never came (max over runs)",
                    lambda p: f"missing_{top_step(p)}",
                    0,
                    "project",
                    which="max",
                    fmt=",.0f",
                    compare_with="reference",
                ),
                limit_target(
                    _GROUP_2,
                    "p99 lateness, ms",
                    lambda p: f"p99_ms_{top_step(p)}",
                    50,
                    "project",
                    compare_with="reference",
                ),
                limit_target(
                    _GROUP_2,
                    "server memory (RSS) per stream, KB",
                    lambda p: f"rss_kb_per_stream_{top_step(p)}",
                    20,
                    "project",
                    compare_with="reference",
                ),
                limit_target(
                    _GROUP_2,
                    "server OS threads (max over runs)",
                    lambda p: f"threads_{top_step(p)}",
                    50,
                    "project",
                    which="max",
                    fmt=",.0f",
                    compare_with="reference",
                ),
            ),
        ),
        _churn_scenario(
            "churn",
            "Connect churn",
            "C cycles, K at a time: connect (source address rotating over 127.0.0.2..51), "
            "`GET /sse2?message=hello&interval=I`, read the response head and event 0, close the "
            "connection (the server sees a client disconnect). connects/s = C / wall time. Server CPU "
            "per cycle is counted over the run and again until the server is quiet (the session "
            "recorder writes from its own thread, in batches). StreamSession rows are counted in the "
            "project's SQLite file. Session recording is on (the default).",
            0.01,
            "connects/s (recording on), project / reference",
        ),
        _churn_scenario(
            "churn0",
            "Connect churn against a stream that never waits",
            "As `churn`, with `interval=0` and no `limit`: the server produces events as fast as it "
            "can write them, the client reads event 0 and closes. What the server does for a "
            "connection that is gone (or no longer reading) decides the rate: a server that keeps "
            "writing into a dead or full connection pays for it.",
            0,
            "connects/s against `interval=0` without `limit`, project / reference",
        ),
        Scenario(
            name="fanout",
            title="Fan-out: one broadcast channel, many subscribers",
            how=(
                "Both variants run on the project under Daphne with the bench urlconf "
                "(`bench/django_bench`). S subscribers connect to `/events/<channel>/` (ours, the echo "
                "hub) or to django-eventstream's stock view mounted at `/stock/events/<channel>/` "
                "(`path(..., events, {'format-channels': ['{channel}']})`) and each waits for "
                "`stream-open`. The bench view `POST /bench/publish?channel=..&mode=ours|stock` then "
                "publishes from inside the server process: ours `echo.broadcast.apublish` of a typed "
                "`BenchTick` event, stock `django_eventstream.send_event`; both store the event first "
                "(same storage class). Each event carries `time.time()` taken just before its publish "
                "call; latency = arrival - that. Paced phase: E1 events at R/s (latency with no backlog, "
                "the p99 target). Burst phase: E2 events back to back; deliveries/s = S * E2 / (first "
                "publish to last arrival). Every subscriber must receive every event. Threads are "
                "sampled every 50 ms. The `-pg` variants do the same with the events stored in "
                "PostgreSQL (`DATABASE_URL`; Debian's server on loopback, started for the run)."
            ),
            trial=_trials.fanout,
            params=lambda quick: {
                "subscribers": 100 if quick else 1000,
                "paced_events": 5 if quick else 10,
                "paced_rate": 5,
                "burst_events": 20 if quick else 200,
                "timeout": 120,
            },
            metrics=FANOUT_METRICS,
            variants=(
                Variant("ours", "project `/events/<channel>/` (echo hub)", "project-bench", {"mode": "ours"}),
                Variant("stock", "django-eventstream stock view", "project-bench", {"mode": "stock"}),
                Variant(
                    "ours-pg",
                    "project `/events/<channel>/`, PostgreSQL",
                    "project-bench-pg",
                    {"mode": "ours"},
                ),
                Variant(
                    "stock-pg",
                    "django-eventstream stock view, PostgreSQL",
                    "project-bench-pg",
                    {"mode": "stock"},
                ),
            ),
            targets=(
                ratio_target(
                    _GROUP_4,
                    "deliveries/s, ours / stock",
                    "deliveries_per_s",
                    3.0,
                    "ours",
                    "stock",
                    cost_key="server_cpu_ms_per_delivery",
                ),
                limit_target(
                    _GROUP_4,
                    "ours: p99 publish-to-receive (paced phase), ms",
                    lambda p: "paced_p99_ms",
                    50,
                    "ours",
                    compare_with="stock",
                ),
                limit_target(
                    _GROUP_4,
                    "ours: OS threads added with every subscriber connected (max over runs; "
                    "a thread per subscriber would add 1,000)",
                    lambda p: "threads_added",
                    50,
                    "ours",
                    which="max",
                    fmt=",.0f",
                    compare_with="stock",
                ),
            ),
        ),
        Scenario(
            name="recording",
            title="Session recording and metrics on vs off",
            how=(
                "One project server under Daphne (`django_bench.settings`), recording switched on and "
                "off between rounds by the bench-only `POST /bench/recording?on=1|0`, the order of each "
                "pair flipping (on, off, off, on...): single-stream rounds as in `throughput`, then "
                "churn rounds as in `churn`. Per side, rate = total count / total time; cost = "
                "1 - on / off. While recording is on, `GET /metrics` is scraped every `scrape_interval` "
                "seconds (Prometheus' default is 15): the on side pays for recording and metrics both. "
                "The per-stream counters behind the metrics (`echo.sse.runtime.stats`) count on both sides; "
                "bench/stats_cost.py measures them on their own. "
                "`control` is the same trial recording on both sides: what the "
                "measurement reads when there is no difference. `paired-pg`: `paired` with the rows written "
                "to PostgreSQL (COPY through psycopg 3) instead of SQLite."
            ),
            trial=_trials.recording_cost,
            params=lambda quick: {
                "events": 3_000 if quick else 30_000,
                # Pairs in even numbers: each side goes first as often as second.
                "throughput_rounds": 2 if quick else 12,
                "cycles": 200 if quick else 1000,
                "churn_rounds": 2 if quick else 16,
                "concurrency": 20 if quick else 50,
                "interval": 0.01,
                "timeout": 120,
                "control": False,
                "scrape_interval": 1.0,
            },
            metrics=RECORDING_METRICS,
            variants=(
                Variant("paired", "recording on against off", "project-bench"),
                Variant("control", "control: on against on", "project-bench", {"control": True}),
                Variant("paired-pg", "recording on against off, PostgreSQL", "project-bench-pg"),
            ),
            ratio=False,
            targets=(
                cost_target(
                    _GROUP_5,
                    "single-stream throughput: cost of recording + metrics",
                    "throughput_cost_pct",
                    5,
                ),
                cost_target(_GROUP_5, "churn connects/s: cost of recording + metrics", "churn_cost_pct", 10),
            ),
        ),
        Scenario(
            name="uvicorn",
            title="The project under uvicorn (a check, not a target)",
            how=(
                "`uvicorn --loop asyncio --http h11 sse_project.asgi:application`: the `/sse2` contract "
                "check, one stream of N events at interval=0 and 20 concurrent short streams."
            ),
            trial=_trials.uvicorn_smoke,
            params=lambda quick: {"events": 1_000 if quick else 5_000, "streams": 20, "timeout": 60},
            metrics=(
                Metric("contract_ok", "contract checks passed (1 = yes)"),
                Metric("events_per_s", "events/s, one stream"),
                Metric("concurrent_streams_ok", "concurrent streams read to their end"),
            ),
            variants=(Variant("project-uvicorn", "uvicorn + Django (project)", "project-uvicorn"),),
            targets=(
                works_target(
                    _GROUP_6, "the project's ASGI app serves /sse2 under uvicorn", "project-uvicorn"
                ),
            ),
            runs=1,
        ),
        Scenario(
            name="idle",
            title="Memory and threads per idle stream",
            how=(
                "After warm-up, read the server's VmRSS and thread count (/proc/<pid>/status, "
                "/proc/<pid>/task), open S streams `/sse2?message=hello&interval=I` (requests sent 100 "
                "at a time), wait until every one has received event 0, read them again. RSS per "
                "stream = RSS delta / S. (Superseded by `capacity`; run it by name.)"
            ),
            trial=_trials.idle_streams,
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
            variants=VERSUS_REFERENCE,
            default=False,
        ),
    )
}
