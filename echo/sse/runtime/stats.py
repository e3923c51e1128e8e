"""What this process has done, counted where it happens and read when someone asks.

A small registry of counters, histograms and gauges that the toolkit and the features write to
and the exporters read (`echo.metrics` for Prometheus, the sessions dashboard). Nothing here
depends on a metrics library: a count is a dict update under a lock, a gauge is a function called
only when read, and nothing is counted per event on a stream (a stream's events and bytes are in
its `StreamInfo` already, summed when read).

Metric names follow Prometheus' conventions (`echo_` prefix, base units); a counter's name has no
`_total`, which the exposition adds. Label values should come from code and declarations, never
from a request; and whatever a caller passes, no client can make the series grow (`LabelSets`):
each metric shows at most `MAX_SERIES` label sets over the life of the process, the first it sees,
and counts every later one under `other`; a label value is cut to `MAX_LABEL_LENGTH` characters.
Remembering the label sets shown, rather than ranking them afresh at each scrape, is what bounds
the series a scraper stores over time, not only those in one scrape. Where a label would be a
value of which only a few matter (a stream's name), `top_labels` keeps the largest few of a
reading and folds the rest into `other`.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "MAX_LABEL_LENGTH",
    "MAX_SERIES",
    "OTHER",
    "Counter",
    "Gauge",
    "Histogram",
    "LabelSets",
    "Metric",
    "Stats",
    "counter",
    "gauge",
    "histogram",
    "stats",
    "top_labels",
]

Labels = tuple[str, ...]
Kind = Literal["counter", "gauge", "histogram"]

# Seconds: from a millisecond to a minute, for delivery lag and write times alike.
TIME_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OTHER = "other"
# Label sets a metric shows one by one over the process's life, `other` aside; and the longest
# label value shown (longer ones are cut, ending with an ellipsis).
MAX_SERIES = 50
MAX_LABEL_LENGTH = 100
_CUT = "…"


class LabelSets:
    """The label sets one metric has shown: the first `limit` stay for the process's life, and
    any other is shown as `other` in every label, so the series never outnumber `limit` + 1."""

    def __init__(self, arity: int, limit: int = MAX_SERIES) -> None:
        self.limit = limit
        self.other: Labels = (OTHER,) * arity
        self._shown: set[Labels] = set()
        self._lock = threading.Lock()

    def fold(self, labels: Labels) -> Labels:
        """`labels` as shown: cut to length, and `other` once `limit` others have been shown."""
        # The common case, a label set already shown, reads the set without the lock: it only
        # ever grows, under the lock, and a shown label set is never longer than the bound.
        if not labels or labels in self._shown:
            return labels
        labels = tuple(
            value if len(value) <= MAX_LABEL_LENGTH else value[: MAX_LABEL_LENGTH - 1] + _CUT
            for value in labels
        )
        if labels == self.other:
            return labels
        with self._lock:
            if labels in self._shown:
                return labels
            if len(self._shown) < self.limit:
                self._shown.add(labels)
                return labels
        return self.other

    def fold_all(self, samples: Iterable[tuple[Labels, float]]) -> dict[Labels, float]:
        """`samples` by the label sets shown, the values of those folded together summed."""
        out: dict[Labels, float] = {}
        for labels, value in samples:
            shown = self.fold(labels)
            out[shown] = out.get(shown, 0) + value
        return out


@dataclass(eq=False)
class Counter:
    name: str
    documentation: str
    labelnames: Labels = ()
    # Added when read: what is still being counted elsewhere (the live streams' events).
    live: Callable[[], Mapping[Labels, float]] | None = None
    kind: Kind = field(default="counter", init=False)
    _values: dict[Labels, float] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _labels: LabelSets = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._labels = LabelSets(len(self.labelnames))

    def inc(self, *labels: str, amount: float = 1) -> None:
        labels = self._labels.fold(labels)
        with self._lock:
            self._values[labels] = self._values.get(labels, 0) + amount

    def seed(self, *labels: str) -> None:
        """Show `labels` at zero before anything is counted (a rate needs a first sample)."""
        labels = self._labels.fold(labels)
        with self._lock:
            self._values.setdefault(labels, 0)

    def samples(self) -> dict[Labels, float]:
        with self._lock:
            values = dict(self._values)
        if self.live is not None:
            for labels, value in self._labels.fold_all(self.live().items()).items():
                values[labels] = values.get(labels, 0) + value
        return values

    def total(self) -> float:
        return sum(self.samples().values())


@dataclass(eq=False)
class Gauge:
    name: str
    documentation: str
    labelnames: Labels = ()
    read: Callable[[], Mapping[Labels, float]] = dict
    kind: Kind = field(default="gauge", init=False)
    _labels: LabelSets = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._labels = LabelSets(len(self.labelnames))

    def samples(self) -> dict[Labels, float]:
        return self._labels.fold_all(self.read().items())

    def total(self) -> float:
        return sum(self.samples().values())


@dataclass
class _Series:
    buckets: list[int]
    count: int = 0
    sum: float = 0.0


@dataclass(eq=False)
class Histogram:
    name: str
    documentation: str
    labelnames: Labels = ()
    buckets: tuple[float, ...] = TIME_BUCKETS
    kind: Kind = field(default="histogram", init=False)
    _series: dict[Labels, _Series] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _labels: LabelSets = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._labels = LabelSets(len(self.labelnames))

    def observe(self, value: float, *labels: str) -> None:
        labels = self._labels.fold(labels)
        slot = bisect.bisect_left(self.buckets, value)
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = _Series([0] * (len(self.buckets) + 1))
            series.buckets[slot] += 1
            series.count += 1
            series.sum += value

    def series(self) -> dict[Labels, tuple[list[tuple[float, int]], int, float]]:
        """Per label set: cumulative `(upper bound, count)` pairs ending with +Inf, count, sum."""
        out: dict[Labels, tuple[list[tuple[float, int]], int, float]] = {}
        with self._lock:
            every = dict(self._series)
        if not every and not self.labelnames:
            every[()] = _Series([0] * (len(self.buckets) + 1))
        with self._lock:
            for labels, series in every.items():
                running = 0
                cumulative = []
                for bound, n in zip((*self.buckets, float("inf")), series.buckets, strict=True):
                    running += n
                    cumulative.append((bound, running))
                out[labels] = (cumulative, series.count, series.sum)
        return out

    def totals(self) -> tuple[int, float]:
        """Count and sum over every label set."""
        with self._lock:
            return (
                sum(s.count for s in self._series.values()),
                sum(s.sum for s in self._series.values()),
            )


Metric = Counter | Gauge | Histogram


class Stats:
    """Every metric of this process by name; declaring one twice returns the first."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()

    def add(self, metric: Metric) -> Metric:
        with self._lock:
            known = self._metrics.setdefault(metric.name, metric)
        if type(known) is not type(metric) or known.labelnames != metric.labelnames:
            raise ValueError(f"metric {metric.name!r} is already declared differently")
        return known

    def get(self, name: str) -> Metric | None:
        return self._metrics.get(name)

    def __iter__(self) -> Iterator[Metric]:
        return iter(list(self._metrics.values()))


stats = Stats()


def counter(
    name: str,
    documentation: str,
    labelnames: Labels = (),
    *,
    live: Callable[[], Mapping[Labels, float]] | None = None,
) -> Counter:
    metric = stats.add(Counter(name, documentation, labelnames, live))
    assert isinstance(metric, Counter)
    return metric


def gauge(
    name: str, documentation: str, labelnames: Labels, read: Callable[[], Mapping[Labels, float]]
) -> Gauge:
    metric = stats.add(Gauge(name, documentation, labelnames, read))
    assert isinstance(metric, Gauge)
    return metric


def histogram(
    name: str, documentation: str, labelnames: Labels = (), buckets: tuple[float, ...] = TIME_BUCKETS
) -> Histogram:
    metric = stats.add(Histogram(name, documentation, labelnames, buckets))
    assert isinstance(metric, Histogram)
    return metric


def top_labels(counts: Iterable[tuple[str, float]], limit: int) -> dict[Labels, float]:
    """`counts` by label, the `limit` largest kept and the rest summed under `other`."""
    merged: dict[str, float] = {}
    for label, value in counts:
        merged[label] = merged.get(label, 0) + value
    ranked = sorted(merged.items(), key=lambda item: (-item[1], item[0]))
    out: dict[Labels, float] = {(label,): value for label, value in ranked[:limit]}
    rest = sum(value for _, value in ranked[limit:])
    if rest:
        out[(OTHER,)] = out.get((OTHER,), 0) + rest
    return out
