"""Process-wide state: every module-level holder in `echo`, what it holds and how it is reset.

A holder is what a process keeps across requests at module level: a singleton with mutable
attributes, a dict, list or set, a cache, a lock, a ContextVar, a flag rebound through `global`, a
metric. `tests/sse/test_process_state.py` finds them with `ast` (its docstring gives the rule) and
fails on one missing from `HOLDERS` or listed but gone; ARCHITECTURE.md's "Process-wide state"
table is rendered from `HOLDERS`. Likewise `SIDE_EFFECTS`: calls made at import that change the
process. Not module-level, so not here: the threads of the ASGI handler's `ExecutorPool`, one pool
per application object (`echo.sse.glue.asgi`).

`reset()` is what the test suite calls after every test. The toolkit imports no feature: each app
registers the resets of the holders it owns from its `AppConfig.ready()` (`register_reset`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["HOLDERS", "SIDE_EFFECTS", "Holder", "SideEffect", "register_reset", "reset"]

# How a holder is reset, in words the table repeats.
RESET = "`state.reset()`"
CONFIGURATION = "never: configuration, set as the apps load"
ONCE = "never: once per process"
NOTHING = "nothing to reset: holds no mutable state"
NEVER_METRIC = "never: metrics are compared before and after"


@dataclass(frozen=True)
class Holder:
    module: str
    name: str
    holds: str
    reset: str


@dataclass(frozen=True)
class SideEffect:
    module: str
    call: str
    why: str


HOLDERS: tuple[Holder, ...] = (
    Holder(
        "echo.broadcast.channels",
        "_exact",
        "declared exact channels: their event types and read and publish rules",
        CONFIGURATION + " (`ready()`)",
    ),
    Holder(
        "echo.broadcast.channels",
        "_patterns",
        "declared channel patterns: their event types and read and publish rules",
        CONFIGURATION + " (`ready()`)",
    ),
    Holder(
        "echo.broadcast.hub",
        "hub",
        "per-channel order (`last`, held events), subscribers, background tasks",
        RESET,
    ),
    Holder("echo.broadcast.metrics", "published", "events published, by channel declaration", NEVER_METRIC),
    Holder("echo.broadcast.metrics", "deliveries", "events delivered to subscribers", NEVER_METRIC),
    Holder("echo.broadcast.metrics", "lag", "seconds from publish to delivery", NEVER_METRIC),
    Holder("echo.broadcast.metrics", "catch_ups", "catch-ups (poll, gap, replay)", NEVER_METRIC),
    Holder(
        "echo.broadcast.ratelimit",
        "publish_buckets",
        "a token bucket per client address publishing over HTTP",
        "never: bounded (10,000 addresses, the least recent forgotten)",
    ),
    Holder("echo.broadcast.relay", "relay", "the Redis publishing connection", RESET + " (closes it)"),
    Holder("echo.broadcast.retention", "_age_lock", "guards `_last_age_trim`", NOTHING),
    Holder(
        "echo.broadcast.retention",
        "_last_age_trim",
        "when this process last trimmed stored events by age (once a minute at most)",
        ONCE + " a minute",
    ),
    Holder("echo.broadcast.rules", "anyone", "a rule object", NOTHING),
    Holder("echo.broadcast.rules", "nobody", "a rule object", NOTHING),
    Holder("echo.broadcast.rules", "authenticated", "a rule object", NOTHING),
    Holder(
        "echo.metrics.apps",
        "_registered",
        "whether the stats collector is registered with prometheus_client",
        ONCE + " (the registry refuses it twice)",
    ),
    Holder(
        "echo.server.transport",
        "turns",
        "the event loop's turn counter for direct writes",
        "never: a count that only grows",
    ),
    Holder(
        "echo.sessions.bus",
        "_listener",
        "the control bus's listener task per event loop",
        "never: ends with its loop",
    ),
    Holder(
        "echo.sessions.bus",
        "_waited",
        "the loops whose first stream waited for the listener to join",
        "never: weak, gone with the loop",
    ),
    Holder(
        "echo.sessions.bus",
        "_own_layers",
        "the bus's own layer when the site has none: Redis, or its sessions' database's",
        "never: one per Redis URL or database",
    ),
    Holder(
        "echo.sessions.history",
        "history",
        "the dashboard's last hour of samples, its sampling thread",
        "never: bounded (an hour)",
    ),
    Holder(
        "echo.sessions.recorder",
        "recorder",
        "the session writer thread, its queue, rows written",
        "`close()` (the suite, at its end)",
    ),
    Holder("echo.sessions.recorder", "_batch_rows", "rows per write batch", NEVER_METRIC),
    Holder("echo.sessions.recorder", "_write_seconds", "seconds per write transaction", NEVER_METRIC),
    Holder("echo.sessions.recorder", "_write_failures", "failed write batches", NEVER_METRIC),
    Holder(
        "echo.tickets.revoke",
        "watch",
        "the open streams a ticket opened (their ticket's id), the threads writing revocations",
        "never: a stream's entry leaves as it closes (bounded by the open streams)",
    ),
    Holder(
        "echo.sse.glue.asgi",
        "_resolves_to_stream_view",
        "whether a path resolves to a stream view, per URL resolver (an `lru_cache`)",
        "never: bounded (1,024); a new resolver makes new keys",
    ),
    Holder("echo.sse.conf", "_sections", "every declared settings section", CONFIGURATION + " (at import)"),
    Holder(
        "echo.sse.conf",
        "_load",
        "each section's validated values (a `functools.cache`)",
        "cleared when `ECHO` changes (`setting_changed`)",
    ),
    Holder(
        "echo.sse.runtime.stream_info",
        "_id_state",
        "the stream-id prefix and counter",
        "a new prefix in a forked child (`os.register_at_fork`)",
    ),
    Holder(
        "echo.sse.runtime.liveness", "pinger", "the streams the keep-alive sweeper watches, its task", RESET
    ),
    Holder(
        "echo.sse.glue.redact",
        "_lowered",
        "secret parameter names lowered (an `lru_cache`)",
        "never: bounded (8)",
    ),
    Holder("echo.sse.glue.redact", "_words", "a name's words (an `lru_cache`)", "never: bounded (256)"),
    Holder(
        "echo.sse.runtime.registry",
        "registry",
        "live streams (terminate, shutdown), admissions, observers, idle waiters",
        RESET + " (observers stay: configuration)",
    ),
    Holder("echo.sse.runtime.registry", "_opened", "streams opened", NEVER_METRIC),
    Holder("echo.sse.runtime.registry", "_ended", "streams ended, by reason", NEVER_METRIC),
    Holder("echo.sse.runtime.registry", "_refused", "admissions refused, by limit", NEVER_METRIC),
    Holder(
        "echo.sse.glue.response",
        "_current",
        "the stream whose body runs in this context (a `ContextVar`)",
        "never: per task, left with it",
    ),
    Holder(
        "echo.sse.glue.response",
        "_warned_undeclared",
        "(stream, event) pairs already logged as undeclared",
        "never: bounded (1,000)",
    ),
    Holder("echo.sse.glue.response", "_warned_stock", "whether the stock-handler warning was logged", ONCE),
    Holder(
        "echo.sse.runtime.shutdown",
        "shutdown",
        "whether the signal handlers are installed, whether a drain runs",
        RESET + " (the drain; the handlers stay)",
    ),
    Holder(
        "echo.sse.runtime.startup",
        "application_ready",
        "its receivers (a Django `Signal`)",
        CONFIGURATION + " (`ready()`)",
    ),
    Holder("echo.sse.runtime.startup", "_lock", "guards `_sent`", NOTHING),
    Holder("echo.sse.runtime.startup", "_sent", "whether `application_ready` was sent", ONCE),
    Holder("echo.sse.runtime.state", "_resets", "the resets `reset()` calls", CONFIGURATION + " (`ready()`)"),
    Holder(
        "echo.sse.runtime.stats",
        "stats",
        "every metric by name, and per metric the label sets it has shown (at most 50, the rest as `other`)",
        NEVER_METRIC,
    ),
)

SIDE_EFFECTS: tuple[SideEffect, ...] = (
    SideEffect(
        "echo.sse.conf",
        "setting_changed.connect",
        "clears `_load` when a test overrides `ECHO`; the cache exists from import, so must this",
    ),
    SideEffect(
        "echo.sse.runtime.stream_info", "_new_id_prefix", "the stream-id prefix, drawn as `_id_state` is made"
    ),
    SideEffect(
        "echo.sse.runtime.stream_info",
        "os.register_at_fork",
        "a forked worker must not repeat its parent's ids; a pre-fork server forks before its"
        " workers start serving, so start-up would be too late",
    ),
    SideEffect(
        "echo.sse.runtime.registry",
        "gauge",
        "a metric read when asked; registered where the code that feeds it lives",
    ),
    SideEffect(
        "echo.sse.runtime.registry",
        "counter",
        "metrics read when asked; registered where the code that feeds them lives",
    ),
    SideEffect(
        "echo.sessions.recorder",
        "gauge",
        "the writer's queue depth, read when asked; registered where the queue lives",
    ),
    SideEffect(
        "echo.urls",
        "urlpatterns.append",
        "the installed features' URLs in the module's own `urlpatterns`: no process state",
    ),
)

_resets: dict[str, Callable[[], object]] = {}


def register_reset(holder: str, reset: Callable[[], object]) -> None:
    """Have `reset()` call `reset` for `holder` (its dotted name); registering again replaces."""
    _resets[holder] = reset


def reset() -> None:
    """Reset every registered holder (tests: after each one)."""
    for holder_reset in list(_resets.values()):
        holder_reset()
