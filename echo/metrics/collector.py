"""`StatsCollector`: the process's stats (`echo.sse.runtime.stats`) as Prometheus metric families.

A custom collector reads the counts when scraped, so nothing on a stream's path touches
prometheus_client. That is also why each process is scraped on its own rather than through
prometheus_client's multiprocess mode, which takes no custom collectors (docs/operations.md, "Metrics").
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from echo.sse.runtime.stats import Counter, Gauge, Stats, stats

__all__ = ["StatsCollector"]


class StatsCollector(Collector):
    def __init__(self, source: Stats = stats) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        for metric in self.source:
            labelnames = list(metric.labelnames)
            family: Metric
            if isinstance(metric, Counter | Gauge):
                kind = CounterMetricFamily if isinstance(metric, Counter) else GaugeMetricFamily
                family = kind(metric.name, metric.documentation, labels=labelnames)
                samples = metric.samples()
                if not samples and not labelnames:
                    samples = {(): 0}  # a counter nobody has moved yet is still there, at zero
                for labels, value in sorted(samples.items()):
                    family.add_metric(list(labels), value)
            else:
                family = HistogramMetricFamily(metric.name, metric.documentation, labels=labelnames)
                for labels, (buckets, _count, total) in sorted(metric.series().items()):
                    family.add_metric(
                        list(labels),
                        [(_bound(bound), count) for bound, count in buckets],
                        sum_value=total,
                    )
            yield family


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))
