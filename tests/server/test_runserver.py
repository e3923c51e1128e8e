"""`manage.py runserver` streams: with daphne first in INSTALLED_APPS it is Daphne's ASGI server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from ..servers import Server, runserver

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with runserver(Path(tmp_path_factory.mktemp("runserver"))) as server:
        yield server


def test_runserver_is_daphnes(dev_server: Server) -> None:
    # Daphne's runserver announces itself; Django's WSGI runserver would buffer a stream instead.
    assert "ASGI/Daphne" in dev_server.log()


def test_runserver_streams_typed_events(dev_server: Server) -> None:
    params = {"message": "hi", "interval": 0.05, "limit": 3}
    with (
        httpx.Client(base_url=dev_server.url, timeout=10) as client,
        connect_sse(client, "GET", "/sse2", params=params) as source,
    ):
        assert source.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        *events, last = source.iter_sse()

    assert [(e.event, e.id) for e in events] == [("echo", "0"), ("echo", "1"), ("echo", "2")]
    assert last.event == "completed"
    assert [e.json()["message"] for e in events] == ["hi"] * 3


def test_runserver_sends_each_event_as_it_happens(dev_server: Server) -> None:
    # No limit: the stream never ends, so reading two events returns only if they arrive one by one.
    params = {"message": "hi", "interval": 0.05}
    with (
        httpx.Client(base_url=dev_server.url, timeout=10) as client,
        connect_sse(client, "GET", "/sse2", params=params) as source,
    ):
        events = source.iter_sse()
        first_two = [next(events), next(events)]

    assert [(e.event, e.id) for e in first_two] == [("echo", "0"), ("echo", "1")]
