"""The status line under `python -m echo.server`: a status Twisted has no phrase for gets the
standard one (`429 Too Many Requests`, not Twisted's `429 Unknown Status`), read off a raw socket
because an HTTP client keeps the code and may drop the phrase."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from echo.server.send import reason_phrase

from ..servers import Server, daphne, wait_for

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=[True, False], ids=["direct-send", "flow-send"])
def one_stream_each(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    # Both of the adapter's sends (`echo.server.send`): the phrase is set on either path.
    settings = json.dumps({"MAX_STREAMS_PER_CLIENT": 1, "DAPHNE_DIRECT_SEND": request.param})
    with daphne(tmp_path_factory.mktemp("phrase"), ECHO_TEST_SETTINGS=settings) as running:
        yield running


def status_line(server: Server, target: str, timeout: float = 10.0) -> bytes:
    """The first line of the response to `GET target`, read off a raw socket."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while b"\r\n" not in received:
            assert time.monotonic() < deadline, received
            chunk = sock.recv(4096)
            assert chunk, f"connection closed before a status line: {received!r}"
            received += chunk
    return received.split(b"\r\n", 1)[0]


def test_a_refused_stream_says_429_too_many_requests(one_stream_each: Server) -> None:
    server = one_stream_each
    with httpx.stream(
        "GET", f"{server.url}/sse3", params={"message": "held", "interval": 0.2}, timeout=10
    ) as held:
        lines = held.iter_lines()
        next(lines)  # the stream is open: this address holds its one stream
        assert status_line(server, "/sse2?message=over") == b"HTTP/1.1 429 Too Many Requests"
    # The held stream ends once the server sees its client go; then this address may stream again.
    wait_for(lambda: not httpx.get(f"{server.url}/_probe/stats", timeout=5).json()["live_events"])
    # Statuses Twisted names keep its phrase.
    assert status_line(server, "/sse2?message=ok&limit=1&interval=0") == b"HTTP/1.1 200 OK"
    assert status_line(server, "/no-such-page/") == b"HTTP/1.1 404 Not Found"


def test_reason_phrase_is_the_standard_one_or_none() -> None:
    assert reason_phrase(429) == b"Too Many Requests"
    assert reason_phrase(451) == b"Unavailable For Legal Reasons"
    assert reason_phrase(599) is None
    assert reason_phrase("429") is None
