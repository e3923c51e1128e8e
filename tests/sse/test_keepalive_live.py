"""Keep-alive comments on the path production uses: under echo's handler an idle stream is pinged
by the per-process sweeper (`echo.sse.runtime.liveness`), under Django's handler by the pump's deadline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from ..servers import Server, daphne, daphne_app

pytestmark = pytest.mark.live

FAST_PINGS = '{"PING_INTERVAL": 0.2}'
SERVERS: dict[str, Callable[[Path], AbstractContextManager[Server]]] = {
    "echo-handler": lambda tmp: daphne(tmp, ECHO_TEST_SETTINGS=FAST_PINGS),
    "django-handler": lambda tmp: daphne_app(
        tmp, "tests.stock_asgi:application", ECHO_TEST_SETTINGS=FAST_PINGS
    ),
}


@pytest.fixture(params=sorted(SERVERS))
def pinging_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with SERVERS[request.param](tmp_path) as server:
        yield server


def test_an_idle_stream_gets_a_ping_each_interval(pinging_server: Server) -> None:
    # An hour between events: everything read here is a keep-alive. The read timeout (2 s) fails
    # the test if pings stop coming.
    params = {"message": "quiet", "interval": 3600}
    received = b""
    with (
        httpx.Client(base_url=pinging_server.url, timeout=2.0) as client,
        client.stream("GET", "/sse2", params=params) as response,
    ):
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += chunk
            if received.count(b": ping\n\n") >= 3:
                break
    assert received.replace(b": ping\n\n", b"") == b"", received


def test_a_stream_under_djangos_stock_handler_is_said_once_in_the_log(tmp_path: Path) -> None:
    with daphne_app(tmp_path, "tests.stock_asgi:application") as server:
        for n in range(3):
            params = {"message": f"m{n}", "limit": 1, "interval": 0}
            assert httpx.get(f"{server.url}/sse2", params=params, timeout=10).status_code == 200
        log = server.log()
    assert log.count("served by an ASGI handler other than echo's") == 1, log
    assert "(echo.W004)" in log


def test_no_such_line_under_echos_handler(tmp_path: Path) -> None:
    with daphne(tmp_path) as server:
        params = {"message": "m", "limit": 1, "interval": 0}
        assert httpx.get(f"{server.url}/sse2", params=params, timeout=10).status_code == 200
        assert "other than echo's" not in server.log()
