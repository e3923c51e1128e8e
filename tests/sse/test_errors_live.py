"""A stream whose source raises ends its response cleanly, wherever it is served.

Under echo's server and handler, Django's stock handler, and uvicorn: the client gets a complete
response at once (the events sent so far, then `event: error` without details, then the end of
the body), the exception is logged once with its traceback, and the stream's session row says
`error` with its text. A stream view that raises before it has a response is a JSON 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from ..servers import Server, daphne, daphne_app, uvicorn, wait_for
from ..services import session_rows

pytestmark = pytest.mark.live

SERVERS: dict[str, Callable[[Path], AbstractContextManager[Server]]] = {
    "echo-server": lambda tmp: daphne(tmp),
    "django-handler": lambda tmp: daphne_app(tmp, "tests.stock_asgi:application"),
    "uvicorn": lambda tmp: uvicorn(tmp),
}


@pytest.fixture(params=sorted(SERVERS))
def any_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with SERVERS[request.param](tmp_path) as server:
        yield server


@pytest.mark.parametrize("after", [0, 2])
def test_a_failing_source_ends_the_response_at_once(any_server: Server, after: int) -> None:
    started = time.monotonic()
    with (
        httpx.Client(base_url=any_server.url, timeout=5.0) as client,
        connect_sse(client, "GET", "/_probe/fail", params={"after": after}) as source,
    ):
        assert source.response.status_code == 200
        events = [(event.event, event.data) for event in source.iter_sse()]
    elapsed = time.monotonic() - started

    assert elapsed < 1.0, elapsed
    assert events == [*(("tick", str(n)) for n in range(after)), ("error", '{"reason":"error"}')]

    def recorded() -> list[dict[str, object]]:
        return [row for row in session_rows(any_server, "path = ?", ("/_probe/fail",)) if row["ended_at"]]

    (row,) = wait_for(recorded, what="the failed stream's row")
    assert row["end_reason"] == "error"
    assert row["error"] == "ValueError: boom"
    log = wait_for(lambda: "ValueError: boom" in any_server.log() and any_server.log(), what="the log")
    assert log.count("Traceback") == 1, log
    assert log.count('raise ValueError("boom")') == 1, log


def test_without_the_error_event_the_body_just_ends(tmp_path: Path) -> None:
    with (
        daphne(tmp_path, ECHO_TEST_SETTINGS='{"ERROR_EVENT": false}') as server,
        httpx.Client(base_url=server.url, timeout=5.0) as client,
        connect_sse(client, "GET", "/_probe/fail", params={"after": 1}) as source,
    ):
        events = [event.event for event in source.iter_sse()]
    assert events == ["tick"]


def test_a_stream_view_that_raises_is_a_json_500(any_server: Server) -> None:
    response = httpx.get(f"{any_server.url}/_probe/fail_view", timeout=5.0)
    assert response.status_code == 500
    assert response.json() == {
        "error": "server_error",
        "detail": "The server could not start this stream.",
    }
    log = wait_for(lambda: "the view failed" in any_server.log() and any_server.log(), what="the log")
    assert log.count("Traceback") == 1, log
