"""The dashboard's samples (`echo.sessions.history`): what changed between two readings."""

from __future__ import annotations

from echo.sessions.history import History
from echo.sse.runtime.stats import Counter, Histogram, stats


def metric(name: str) -> object:
    found = stats.get(name)
    assert found is not None
    return found


def test_a_sample_holds_what_changed_since_the_last_one() -> None:
    history = History(interval=1.0)
    history.sample()  # the baseline
    opened, ended = metric("echo_streams_opened"), metric("echo_streams_ended")
    lag = metric("echo_broadcast_lag_seconds")
    assert isinstance(opened, Counter)
    assert isinstance(ended, Counter)
    assert isinstance(lag, Histogram)
    opened.inc(amount=3)
    ended.inc("completed", amount=2)
    ended.inc("slow_client")
    lag.observe(0.010, "history-test")
    lag.observe(0.030, "history-test")
    point = history.sample()
    assert point.connects == 3
    assert point.ends == {"completed": 2, "slow_client": 1}
    assert point.lag_ms == 20.0
    quiet = history.sample()
    assert (quiet.connects, quiet.ends, quiet.lag_ms) == (0, {}, None)
    assert history.since(0) == list(history.points)
    assert history.since(quiet.t) == []
    assert len(history.points) == 3


def test_an_hour_of_samples_is_kept_and_no_more() -> None:
    history = History(interval=600.0)
    for _ in range(8):
        history.sample()
    assert len(history.points) == 6
