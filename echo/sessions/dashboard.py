"""The admin's live dashboard: open streams now, the last hour as charts, over its own stream.

The page (`…/streamsession/dashboard/`) and its event stream (`…/dashboard/events/`) are the
sessions admin's, for users who may view sessions. The stream sends the hour's samples once
(`metrics_history`), then the open streams every `DASHBOARD_REFRESH` seconds (`open_streams`) and
each new sample as it is taken (`metrics_sample`). What it shows is this process's: with several
server processes, each dashboard connection shows the one that serves it (its `server` field).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from echo.sse import BaseEvent, EventStreamResponse
from echo.sse.glue.contract import StreamContract
from echo.sse.runtime.stats import Gauge, stats

from .conf import app_settings
from .history import history
from .recorder import server_id

__all__ = ["DASHBOARD", "MetricsHistory", "MetricsSample", "OpenStreams", "dashboard_stream"]

STREAM_NAME = "echo-dashboard"


class SamplePayload(BaseModel):
    t: float
    open: int
    connects: int
    ends: dict[str, int]
    events_per_second: float
    lag_ms: float | None


class HistoryPayload(BaseModel):
    server: str
    interval: float
    points: list[SamplePayload]


class OpenStreamsPayload(BaseModel):
    server: str
    total: int
    streams: dict[str, int]


class MetricsHistory(BaseEvent[HistoryPayload]):
    """The last hour's samples, sent once when the dashboard connects."""


class MetricsSample(BaseEvent[SamplePayload]):
    """One new sample: connects, ends by reason and events in its interval, mean broadcast lag."""


class OpenStreams(BaseEvent[OpenStreamsPayload]):
    """The streams open in this process now, by stream name."""


DASHBOARD: StreamContract[Any] = StreamContract(
    MetricsHistory,
    MetricsSample,
    OpenStreams,
    description="The admin dashboard's feed: this process's open streams and last hour (staff with "
    "the view permission on stream sessions).",
)


def _open_now() -> OpenStreams:
    # The `echo_streams_open` gauge already counts them by name (the largest, the rest `other`).
    gauge = stats.get("echo_streams_open")
    samples = gauge.samples() if isinstance(gauge, Gauge) else {}
    streams = {labels[0] or "(no events yet)": int(n) for labels, n in samples.items()}
    payload = OpenStreamsPayload(server=server_id(), total=sum(streams.values()), streams=streams)
    return OpenStreams(data=payload)


async def _feed() -> AsyncIterator[BaseEvent[Any]]:
    history.start(app_settings.DASHBOARD_SAMPLE_INTERVAL)
    points = list(history.points)
    yield MetricsHistory(
        data=HistoryPayload(
            server=server_id(),
            interval=history.interval,
            points=[SamplePayload(**point.as_dict()) for point in points],
        )
    )
    seen = points[-1].t if points else 0.0
    while True:
        yield _open_now()
        for point in history.since(seen):
            yield MetricsSample(data=SamplePayload(**point.as_dict()))
            seen = point.t
        await asyncio.sleep(app_settings.DASHBOARD_REFRESH)  # a refresh clock, not a wait


def dashboard_stream() -> EventStreamResponse:
    # Not recorded: watching the streams is not one of them. Counted as open like any other.
    response = EventStreamResponse(_feed(), name=STREAM_NAME, record=False)
    response.declare(DASHBOARD)
    return response
