"""The process's stats (`echo.sse.runtime.stats`) and their Prometheus exposition (`echo.metrics`)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.checks import Error
from django.test import Client, override_settings
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from echo.metrics import checks
from echo.metrics.collector import StatsCollector
from echo.sse.runtime.stats import (
    MAX_LABEL_LENGTH,
    MAX_SERIES,
    OTHER,
    Counter,
    Gauge,
    Histogram,
    Stats,
    top_labels,
)


@pytest.fixture
def own() -> Stats:
    return Stats()


def exposed(source: Stats) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(StatsCollector(source))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_counter_adds_what_is_still_counted_elsewhere(own: Stats) -> None:
    live = {(): 5.0}
    counter = own.add(Counter("echo_test_events", "Events.", live=lambda: live))
    assert isinstance(counter, Counter)
    counter.inc(amount=2)
    assert counter.total() == 7
    assert exposed(own)[("echo_test_events_total", ())] == 7


def test_labels_are_seeded_at_zero_and_counted(own: Stats) -> None:
    counter = own.add(Counter("echo_test_ends", "Ends.", ("reason",)))
    assert isinstance(counter, Counter)
    counter.seed("completed")
    counter.seed("error")
    counter.inc("error")
    found = exposed(own)
    assert found[("echo_test_ends_total", (("reason", "completed"),))] == 0
    assert found[("echo_test_ends_total", (("reason", "error"),))] == 1


def test_a_histogram_is_cumulative_with_an_inf_bucket(own: Stats) -> None:
    histogram = own.add(Histogram("echo_test_seconds", "Seconds.", ("channel",), buckets=(0.1, 1.0)))
    assert isinstance(histogram, Histogram)
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(value, "a")
    found = exposed(own)
    labels = lambda le: (("channel", "a"), ("le", le))  # noqa: E731
    assert found[("echo_test_seconds_bucket", labels("0.1"))] == 2  # an observation on a bound counts in it
    assert found[("echo_test_seconds_bucket", labels("1.0"))] == 3
    assert found[("echo_test_seconds_bucket", labels("+Inf"))] == 4
    assert found[("echo_test_seconds_count", (("channel", "a"),))] == 4
    assert found[("echo_test_seconds_sum", (("channel", "a"),))] == pytest.approx(3.65)
    assert histogram.totals() == (4, pytest.approx(3.65))


def test_an_unlabelled_histogram_is_exposed_before_its_first_observation(own: Stats) -> None:
    own.add(Histogram("echo_test_rows", "Rows.", buckets=(1, 10)))
    assert exposed(own)[("echo_test_rows_count", ())] == 0


def test_a_gauge_is_read_when_exposed(own: Stats) -> None:
    state = {"open": 1.0}
    own.add(Gauge("echo_test_open", "Open.", (), lambda: {(): state["open"]}))
    state["open"] = 4
    assert exposed(own)[("echo_test_open", ())] == 4


def test_declaring_a_metric_again_returns_it_and_differently_is_an_error(own: Stats) -> None:
    first = own.add(Counter("echo_test_x", "X."))
    assert own.add(Counter("echo_test_x", "X.")) is first
    with pytest.raises(ValueError, match="declared differently"):
        own.add(Counter("echo_test_x", "X.", ("label",)))
    with pytest.raises(ValueError, match="declared differently"):
        own.add(Histogram("echo_test_x", "X."))


def test_top_labels_keeps_the_largest_and_folds_the_rest() -> None:
    counts = [("a", 1), ("b", 5), ("c", 3), ("a", 1), ("d", 1)]
    assert top_labels(counts, 2) == {("b",): 5, ("c",): 3, (OTHER,): 3}
    assert top_labels(counts, 10) == {("b",): 5, ("c",): 3, ("a",): 2, ("d",): 1}


def test_a_gauge_shows_the_first_label_sets_it_saw_and_folds_every_later_one(own: Stats) -> None:
    # Readings whose names all change, as the streams clients open do: ranked afresh each time,
    # they would add up to 300 series; remembered, they stay at MAX_SERIES and `other`.
    reading: dict[tuple[str, ...], float] = {}
    own.add(Gauge("echo_test_open", "Open.", ("stream",), lambda: reading))
    seen: set[str] = set()
    for scrape in range(10):
        reading = {(f"room-{scrape}-{n}",): 1.0 for n in range(30)}
        found = exposed(own)
        assert sum(found.values()) == 30  # nothing lost: folded into `other`
        seen |= {dict(labels)["stream"] for _, labels in found}
    assert len(seen) == MAX_SERIES + 1
    assert OTHER in seen
    # A name shown once keeps its own series.
    reading = {("room-0-0",): 2.0, ("new",): 1.0}
    assert exposed(own) == {
        ("echo_test_open", (("stream", "room-0-0"),)): 2.0,
        ("echo_test_open", (("stream", OTHER),)): 1.0,
    }


def test_counters_and_histograms_count_past_the_series_bound_under_other(own: Stats) -> None:
    counter = own.add(Counter("echo_test_ends", "Ends.", ("reason", "stream")))
    histogram = own.add(Histogram("echo_test_lag", "Lag.", ("channel",), buckets=(1.0,)))
    assert isinstance(counter, Counter)
    assert isinstance(histogram, Histogram)
    for n in range(MAX_SERIES + 20):
        counter.inc("completed", f"user-{n}")
        histogram.observe(0.5, f"user-{n}")
    counts = counter.samples()
    assert len(counts) == MAX_SERIES + 1
    assert counts[(OTHER, OTHER)] == 20
    assert counts[("completed", "user-0")] == 1
    series = histogram.series()
    assert len(series) == MAX_SERIES + 1
    assert series[(OTHER,)][1] == 20


def test_a_long_label_value_is_cut(own: Stats) -> None:
    # The stream named after 32 channels: 3,270 characters in one label value.
    name = "events:" + ",".join(f"user-{n}-{'x' * 90}" for n in range(32))
    own.add(Gauge("echo_test_open", "Open.", ("stream",), lambda: {(name,): 1.0, (name + "!",): 1.0}))
    found = exposed(own)
    [(_, labels)] = found
    value = dict(labels)["stream"]
    assert len(value) == MAX_LABEL_LENGTH
    assert value == name[: MAX_LABEL_LENGTH - 1] + "…"
    assert found[("echo_test_open", labels)] == 2  # both names cut to the same value: summed


def test_the_process_declares_every_documented_metric() -> None:
    from echo.sse.runtime.stats import stats

    names = {metric.name for metric in stats}
    assert {
        "echo_streams_open",
        "echo_streams_opened",
        "echo_streams_ended",
        "echo_streams_refused",
        "echo_stream_events_sent",
        "echo_stream_bytes_sent",
        "echo_broadcast_published",
        "echo_broadcast_deliveries",
        "echo_broadcast_lag_seconds",
        "echo_broadcast_catchups",
        "echo_sessions_queue_depth",
        "echo_sessions_batch_rows",
        "echo_sessions_write_seconds",
        "echo_sessions_write_failures",
    } <= names


@pytest.mark.django_db
def test_the_view_refuses_anonymous_and_wrong_tokens_and_answers_staff_and_the_token(
    admin_user: object,
) -> None:
    client = Client()
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    with override_settings(ECHO={"METRICS_TOKEN": "t0k"}):
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION="Basic t0k").status_code == 403
        answered = client.get("/metrics", HTTP_AUTHORIZATION="bearer t0k")
        assert answered.status_code == 200
        assert b"echo_streams_opened_total" in answered.content
    client.force_login(admin_user)  # type: ignore[arg-type]
    assert client.get("/metrics").status_code == 200
    assert client.head("/metrics").status_code == 200
    not_allowed = client.post("/metrics")
    assert not_allowed.status_code == 405
    assert not_allowed.json()["error"] == "method_not_allowed"


@pytest.mark.django_db
def test_a_staff_session_needs_the_dashboards_view_permission(django_user_model: Any) -> None:
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get_by_natural_key("view_streamsession", "echo_sessions", "streamsession")
    )
    client.force_login(viewer)
    assert client.get("/metrics").status_code == 200
    # The permission without is_staff is not enough: metrics are the admin's.
    viewer.is_staff = False
    viewer.save()
    assert client.get("/metrics").status_code == 403
    # A site names another permission; the dashboard's then no longer opens metrics.
    viewer.is_staff = True
    viewer.save()
    with override_settings(ECHO={"METRICS_PERMISSION": "auth.view_user"}):
        assert client.get("/metrics").status_code == 403
        staff.user_permissions.add(Permission.objects.get_by_natural_key("view_user", "auth", "user"))
        client.force_login(staff)
        assert client.get("/metrics").status_code == 200


def test_e008_when_prometheus_client_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert checks.check_prometheus_client(None) == []
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "prometheus_client" else real(name, *a)
    )
    messages = checks.check_prometheus_client(None)
    assert [(type(m), m.id) for m in messages] == [(Error, "echo.E008")]
