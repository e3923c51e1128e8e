"""A stream that completes, read by `echo.client` from a real Daphne process: the iteration ends on
`completed` after one request, a reader that comes back with the last id gets 204 and yields
nothing, and a server that replays what was read (the article's /sse3 starts over whatever
Last-Event-ID says) never makes the client yield one event twice. Requests are counted in the
server's access log, by a message no other test sends."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from echo.client import AsyncClient, Client, Reconnect
from echo.demo.contracts import SSE2, SSE3
from echo.demo.streams import Echo, ReverseEcho
from echo.sse.wire.control import Completed

from ..loops import run
from ..servers import Server, daphne, wait_for
from .test_client_live import SETTINGS, Reader, Restartable

pytestmark = pytest.mark.live

FAST = Reconnect(delay=0.1, max_delay=0.5, jitter=0.5, max_attempts=50)


def requests(server: Server, path: str, message: str) -> list[str]:
    """The status of each request for `path` with `message` in the access log, in order."""
    line = re.compile(rf'"GET {re.escape(path)}\?message={re.escape(message)}&[^"]*" (\d{{3}}) ')
    return line.findall(server.log())


def logged(server: Server, path: str, message: str, count: int) -> list[str]:
    """The statuses once `count` requests are in the log (a line is written as a response ends)."""
    wait_for(lambda: len(requests(server, path, message)) >= count, what=f"{count} access log lines")
    return requests(server, path, message)


def test_a_limited_stream_ends_after_its_events_in_one_request(server: Server) -> None:
    token = uuid.uuid4().hex
    params = {"message": token, "limit": "5", "interval": "0"}
    with Client(server.url, reconnect=FAST) as client:
        stream = client.stream("/sse2", SSE2, params=params)
        items = list(stream)

    assert [type(item) for item in items] == [Echo] * 5
    assert {item.data.message for item in items} == {token}
    assert isinstance(stream.ended_by, Completed)
    assert (stream.last_event_id, stream.connections) == ("4", 1)
    assert logged(server, "/sse2", token, 1) == ["200"]


def test_reading_again_from_the_last_id_yields_nothing_and_gets_204(server: Server) -> None:
    token = uuid.uuid4().hex
    params = {"message": token, "limit": "5", "interval": "0"}
    with Client(server.url, reconnect=FAST) as client:
        first = client.stream("/sse2", SSE2, params=params)
        assert len(list(first)) == 5
        again = client.stream("/sse2", SSE2, params=params, last_event_id=first.last_event_id)
        assert list(again) == []
        middle = client.stream("/sse2", SSE2, params=params, last_event_id="2")
        rest = list(middle)

    assert (again.connections, again.ended_by, again.last_event_id) == (1, None, "4")
    assert len(rest) == 2  # ids 3 and 4: the limit counts the whole stream
    assert middle.last_event_id == "4"
    assert logged(server, "/sse2", token, 3) == ["200", "204", "200"]


def test_the_async_client_ends_on_completed_too(server: Server) -> None:
    token = uuid.uuid4().hex
    params = {"message": token, "limit": "3", "interval": "0"}

    async def main() -> tuple[list[object], object, int]:
        async with AsyncClient(server.url, reconnect=FAST) as client:
            stream = client.stream("/sse2", SSE2, params=params)
            items = [item async for item in stream]
            return items, stream.ended_by, stream.connections

    items, ended_by, connections = run(main())

    assert len(items) == 3
    assert isinstance(ended_by, Completed)
    assert connections == 1
    assert logged(server, "/sse2", token, 1) == ["200"]


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[Restartable]:
    (tmp_path / "again").mkdir()
    with ExitStack() as stack:
        first = stack.enter_context(daphne(tmp_path, ECHO_TEST_SETTINGS=SETTINGS))
        yield Restartable(tmp_path, first, stack)


def test_events_a_server_replays_after_a_reconnect_are_not_yielded_again(restartable: Restartable) -> None:
    # The plain /sse3 ignores a numeric Last-Event-ID and starts over: after the restart the new
    # connection sends again what the first one did, then more, then `completed`.
    count = 60  # 1.5 s of events: the restart comes long before the last
    params = {"message": "ab", "interval": "0.05", "limit": str(count)}
    with Client(restartable.server.url, reconnect=FAST) as client:
        stream = client.stream("/sse3", SSE3, params=params)
        reader = Reader(stream, 10_000)
        reader.start()
        wait_for(lambda: len(reader.items) >= 6, timeout=30, what="events before the restart")
        restartable.restart()
        items = reader.result()

    echoes = [item for item in items if isinstance(item, Echo)]
    reverses = [item for item in items if isinstance(item, ReverseEcho)]
    # The second connection's events once each: those the first one read were dropped.
    assert len(echoes) + len(reverses) == count
    assert {item.data.message for item in echoes} == {"ab"}
    assert stream.replayed >= 6
    assert stream.connections >= 2  # with those refused while the server was down
    assert isinstance(stream.ended_by, Completed)
