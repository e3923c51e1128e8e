"""The `stream` label of `GET /metrics` on a real Daphne process stays bounded against clients.

Clients open streams on names of their choosing, round after round, while a scraper scrapes: a
broadcast channel each (`/events/room-R-N/`) and a stream named by its query string
(`/_probe/named?name=`, tests/live_urls.py), some of them thousands of characters long. Over every
scrape the `stream` label takes at most `MAX_SERIES` values and `other`, none longer than
`MAX_LABEL_LENGTH`, and `promtool check metrics` accepts each scrape.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from echo.sse.runtime.stats import MAX_LABEL_LENGTH, MAX_SERIES, OTHER

from ..servers import Server, daphne, wait_for
from ..services import require

pytestmark = pytest.mark.live

TOKEN = "scrape-token-5120"
ROUNDS = 4
CHANNELS_PER_ROUND = 45
NAMED_PER_ROUND = 20
LONG_NAME = "a" * 3_270  # as long as the 32-channel name; ranked first among equals


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = json.dumps({"METRICS_TOKEN": TOKEN, "MAX_STREAMS_PER_CLIENT": None})
    with daphne(tmp_path_factory.mktemp("labels"), ECHO_TEST_SETTINGS=settings) as running:
        yield running


def open_stream(server: Server, target: str, deadline: float) -> socket.socket:
    """A raw connection to `target`, returned once its first event has arrived."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        received = b""
        while b"\n\n" not in received.partition(b"\r\n\r\n")[2]:
            assert time.monotonic() < deadline, received[:200]
            chunk = sock.recv(65536)
            assert chunk, f"closed before the first event: {received[:200]!r}"
            received += chunk
        assert received.startswith(b"HTTP/1.1 200 "), received[:200]
    except BaseException:
        sock.close()
        raise
    return sock


def scrape(server: Server) -> str:
    response = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def open_by_stream(text: str) -> dict[str, float]:
    return {
        sample.labels["stream"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "echo_streams_open"
        for sample in family.samples
    }


def live_streams(server: Server) -> int:
    live = httpx.get(f"{server.url}/_probe/stats", timeout=5).json()["live_events"]
    assert isinstance(live, dict)
    return len(live)


def test_clients_cannot_grow_the_stream_label(server: Server) -> None:
    promtool = require("promtool", "promtool is not installed (apt-get install prometheus)")
    labels: set[str] = set()
    deadline = time.monotonic() + 120
    for round_ in range(ROUNDS):
        targets = [f"/events/room-{round_}-{n}/" for n in range(CHANNELS_PER_ROUND)]
        for n in range(NAMED_PER_ROUND):
            name = f"{LONG_NAME if n % 3 == 0 else 'named'}-{round_}-{n}"
            targets.append(f"/_probe/named?name={quote(name)}")
        with contextlib.ExitStack() as streams:
            for target in targets:
                streams.enter_context(open_stream(server, target, deadline))
            text = scrape(server)
            found = open_by_stream(text)
            # Every open stream is counted, under its own label or `other`.
            assert sum(found.values()) >= len(targets)
            labels |= found.keys()
            checked = subprocess.run(
                [promtool, "check", "metrics"],
                input=text,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert checked.returncode == 0, checked.stdout + checked.stderr
        # The clients left; the next round's names are new.
        wait_for(lambda: live_streams(server) == 0, timeout=30, what="every stream of the round ended")
        labels |= open_by_stream(scrape(server)).keys()
    assert len(labels) <= MAX_SERIES + 1, sorted(labels)
    assert OTHER in labels  # 56 names from the named streams: the last ones were counted as `other`
    # The 180 room channels, each a concrete name, are one label: their declaration's.
    assert "events:{channel}" in labels
    assert not [label for label in labels if label.startswith("events:room-")]
    assert max(map(len, labels)) == MAX_LABEL_LENGTH  # the long names were shown, cut
