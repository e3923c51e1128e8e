"""The app is not tied to Daphne: the same ASGI application streams under uvicorn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from httpx_sse import connect_sse

from ..servers import Server, postgres_mode, uvicorn, wait_for


@pytest.fixture
def uvicorn_server(tmp_path: Path) -> Iterator[Server]:
    # uvicorn is pinned in requirements-dev.txt: never skipped.
    with uvicorn(tmp_path) as server:
        yield server


def test_sse2_and_sse3_stream_under_uvicorn(uvicorn_server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=uvicorn_server.url, timeout=10) as client:
        params = {"message": "hi", "interval": 0.02, "limit": 3}
        with connect_sse(client, "GET", "/sse2", params=params) as source:
            assert source.response.headers["content-type"] == "text/event-stream; charset=utf-8"
            echo = [(event.id, event.event) for event in source.iter_sse()]
        with connect_sse(client, "GET", "/sse3", params={**params, "limit": 4}) as source:
            merged = [event.event for event in source.iter_sse()]
    assert echo == [("0", "echo"), ("1", "echo"), ("2", "echo"), ("2", "completed")]
    assert merged[-1] == "completed"
    assert sorted(set(merged[:-1])) == ["echo", "reverse_echo"]
    assert len(merged) == 5


def test_bad_input_is_a_json_400_under_uvicorn(uvicorn_server) -> None:  # type: ignore[no-untyped-def]
    response = httpx.get(f"{uvicorn_server.url}/sse2", params={"interval": "x"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["parameter"] in {"message", "interval"}


def test_a_stream_ends_cleanly_when_the_client_leaves_under_uvicorn(uvicorn_server) -> None:  # type: ignore[no-untyped-def]
    stats = f"{uvicorn_server.url}/_probe/stats"
    seen: list[int] = []

    def tasks() -> int:
        seen.append(httpx.get(stats, timeout=10).json()["tasks"])
        return seen[-1]

    # A first stream starts the process's long-lived helpers (the session bus listener).
    httpx.get(f"{uvicorn_server.url}/sse2", params={"message": "warm", "interval": 0, "limit": 1}, timeout=10)
    baseline = tasks()
    with httpx.Client(timeout=10) as client:
        url = f"{uvicorn_server.url}/sse3"
        with connect_sse(client, "GET", url, params={"message": "x", "interval": 0.02}) as source:
            events = source.iter_sse()
            next(events)
            next(events)
            assert tasks() > baseline  # the stream's tasks are there while it runs
    wait_for(lambda: tasks() <= baseline, timeout=5, what=f"tasks back to {baseline}: {seen[-5:]}")


def test_the_process_wide_gc_settings_apply_under_uvicorn_too(uvicorn_server) -> None:  # type: ignore[no-untyped-def]
    stats = httpx.get(f"{uvicorn_server.url}/_probe/stats", timeout=10).json()
    if settings.OPTIMISATIONS:
        assert stats["gc_frozen"] > 10_000
        assert stats["gc_threshold"] == [10_000, 10, 10]
    else:
        assert (stats["gc_frozen"], stats["gc_threshold"]) == (0, [700, 10, 10])


def test_broadcast_events_reach_subscribers_under_uvicorn(uvicorn_server) -> None:  # type: ignore[no-untyped-def]
    # uvicorn's `send` has no synchronous write, so the hub wakes each subscriber's task instead.
    with httpx.Client(base_url=uvicorn_server.url, timeout=10) as client:
        token = client.get("/").cookies["csrftoken"]
        with connect_sse(client, "GET", "/events/under-uvicorn/?probe=uvicorn") as source:
            events = source.iter_sse()
            assert next(events).event == "stream-open"
            assert client.get("/_probe/stats").json()["writes_now"]["probe=uvicorn"] is False
            for text in ("one", "two", "three"):
                response = client.post(
                    "/events/under-uvicorn/publish", data={"text": text}, headers={"X-CSRFToken": token}
                )
                assert response.status_code == 200, response.text
            received = [next(events) for _ in range(3)]
    assert [(event.event, event.id) for event in received] == [
        ("chat_message", f"under-uvicorn:{n}") for n in (1, 2, 3)
    ]
    assert [json.loads(event.data)["text"] for event in received] == ["one", "two", "three"]


def test_the_broadcast_mode_is_said_once_at_uvicorns_lifespan_start_up(uvicorn_server) -> None:  # type: ignore[no-untyped-def]
    log = wait_for(lambda: "Broadcast mode:" in uvicorn_server.log() and uvicorn_server.log())
    expected = "PostgreSQL LISTEN/NOTIFY" if postgres_mode() else "embedded"
    assert log.count(f"Broadcast mode: {expected}") == 1, log
    httpx.get(f"{uvicorn_server.url}/sse2", params={"message": "x", "limit": 1, "interval": 0}, timeout=10)
    assert uvicorn_server.log().count("Broadcast mode:") == 1
    assert "Traceback" not in uvicorn_server.log()
