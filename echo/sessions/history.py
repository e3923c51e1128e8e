"""The last hour of this process, sampled: what the admin's dashboard draws.

A daemon thread wakes every `DASHBOARD_SAMPLE_INTERVAL` seconds (`HISTORY_INTERVAL`, 5, when
`History` is made without one), reads the process's stats (`echo.sse.runtime.stats`) and keeps
what changed since the last sample (connects, ends by reason, events
per second, broadcast lag) in a ring of one hour. It reads counters only: a stream pays nothing
for it. It starts when the process starts serving (`application_ready`) or when a dashboard opens.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from echo.sse.runtime.stats import Counter, Gauge, Histogram, stats

__all__ = ["HISTORY_INTERVAL", "History", "Point", "history"]

HISTORY_INTERVAL = 5.0
_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Point:
    t: float  # the sample's time, seconds since the epoch
    open: int
    connects: int
    ends: dict[str, int]
    events_per_second: float
    lag_ms: float | None  # mean broadcast lag over the interval; None without deliveries

    def as_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "open": self.open,
            "connects": self.connects,
            "ends": self.ends,
            "events_per_second": self.events_per_second,
            "lag_ms": self.lag_ms,
        }


@dataclass
class _Reading:
    at: float
    connects: float = 0
    ends: dict[str, float] = field(default_factory=dict)
    events: float = 0
    lag_count: int = 0
    lag_sum: float = 0.0


def _read() -> _Reading:
    reading = _Reading(time.monotonic())
    opened = stats.get("echo_streams_opened")
    if isinstance(opened, Counter):
        reading.connects = opened.total()
    ended = stats.get("echo_streams_ended")
    if isinstance(ended, Counter):
        reading.ends = {labels[0]: value for labels, value in ended.samples().items()}
    events = stats.get("echo_stream_events_sent")
    if isinstance(events, Counter):
        reading.events = events.total()
    lag = stats.get("echo_broadcast_lag_seconds")  # only where echo.broadcast is installed
    if isinstance(lag, Histogram):
        reading.lag_count, reading.lag_sum = lag.totals()
    return reading


def open_streams() -> int:
    gauge = stats.get("echo_streams_open")
    return int(gauge.total()) if isinstance(gauge, Gauge) else 0


class History:
    def __init__(self, interval: float = HISTORY_INTERVAL) -> None:
        self.interval = interval
        self.points: deque[Point] = deque(maxlen=int(_HOUR / interval))
        self._last: _Reading | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, interval: float | None = None) -> None:
        """Start sampling (every `interval` seconds, fixed by the first call) unless started."""
        with self._lock:
            if self._thread is None:
                if interval is not None and interval != self.interval:
                    self.interval = interval
                    self.points = deque(maxlen=max(1, int(_HOUR / interval)))
                self._last = _read()
                self._thread = threading.Thread(target=self._run, name="echo-history", daemon=True)
                self._thread.start()

    def sample(self) -> Point:
        """Take one sample now (the thread does, every interval)."""
        now = _read()
        last, self._last = self._last or now, now
        seconds = max(now.at - last.at, 1e-9)
        lag_count = now.lag_count - last.lag_count
        point = Point(
            t=round(time.time(), 3),
            open=open_streams(),
            connects=int(now.connects - last.connects),
            ends={
                reason: int(value - last.ends.get(reason, 0))
                for reason, value in now.ends.items()
                if value - last.ends.get(reason, 0)
            },
            events_per_second=round((now.events - last.events) / seconds, 2),
            lag_ms=round((now.lag_sum - last.lag_sum) / lag_count * 1000, 3) if lag_count else None,
        )
        self.points.append(point)
        return point

    def since(self, t: float) -> list[Point]:
        return [point for point in list(self.points) if point.t > t]

    def _run(self) -> None:
        next_at = time.monotonic() + self.interval
        while True:
            time.sleep(max(0.0, next_at - time.monotonic()))  # a clock, not a wait for a condition
            next_at += self.interval
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a sampler must outlive one bad read
                next_at = time.monotonic() + self.interval


history = History()
