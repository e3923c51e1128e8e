"""`echo.client` against a real server: typed events, every one exactly once and in order across a
server restart in the middle (SIGTERM, then a new process on the same port), refusals, 204,
`terminated`, and the async twin. The client runs in a thread; the test moves the server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from echo.client import AsyncClient, Client, Reconnect, ReconnectFailed, StreamRefused, UnknownEvent
from echo.demo.contracts import SSE2, SSE3
from echo.demo.messages import ChatMessage
from echo.demo.streams import Echo, ReverseEcho
from echo.sse.wire.control import Terminated

from ..loops import run
from ..servers import ROOT, Server, daphne_command, running, wait_for

pytestmark = pytest.mark.live

FAST = Reconnect(delay=0.1, max_delay=0.5, jitter=0.5, max_attempts=200)
# The restarted server's `shutdown` asks clients back after 100 ms.
SETTINGS = json.dumps({"FINAL_RETRY": 100, "FINAL_RETRY_SPREAD": 0})


class Restartable:
    """One server process at a time on one port and one database."""

    def __init__(self, tmp_path: Path, first: Server, stack: ExitStack) -> None:
        self.tmp_path = tmp_path
        self.server = first
        self.stack = stack

    def restart(self) -> None:
        assert self.server.stop() is not None
        self.server = self.stack.enter_context(
            running(
                daphne_command(self.server.host, self.server.port),
                self.tmp_path / "again",
                host=self.server.host,
                port=self.server.port,
                env=self.server.env,
            )
        )


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[Restartable]:
    from ..servers import daphne

    (tmp_path / "again").mkdir()
    with ExitStack() as stack:
        first = stack.enter_context(daphne(tmp_path, ECHO_TEST_SETTINGS=SETTINGS))
        yield Restartable(tmp_path, first, stack)


class Reader(threading.Thread):
    """Reads `count` events of a stream in a thread; `items` as they come."""

    def __init__(self, stream: Any, count: int) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.count = count
        self.items: list[Any] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for item in self.stream:
                self.items.append(item)
                if len(self.items) == self.count:
                    break
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.stream.close()

    def result(self, timeout: float = 60.0) -> list[Any]:
        self.join(timeout)
        assert not self.is_alive(), f"read {len(self.items)} of {self.count} events"
        assert self.error is None, repr(self.error)
        return self.items


def read_across_restart(restartable: Restartable, stream: Any, count: int) -> tuple[list[Any], int]:
    reader = Reader(stream, count)
    reader.start()
    wait_for(lambda: len(reader.items) >= count // 3, timeout=30, what="events before the restart")
    restartable.restart()
    items = reader.result()
    return items, stream.connections


def test_sse2_across_a_restart_every_event_once_in_order(restartable: Restartable) -> None:
    with Client(restartable.server.url, reconnect=FAST) as client:
        stream = client.stream("/sse2", SSE2, params={"message": "hi", "interval": "0.02"})
        items, connections = read_across_restart(restartable, stream, 120)

    assert all(isinstance(item, Echo) and item.data.message == "hi" for item in items)
    created = [item.data.created_at for item in items]
    assert created == sorted(created)
    assert stream.last_event_id == "119"  # ids 0..119, one each: nothing missed or repeated
    assert connections >= 2


def test_resumable_sse3_across_a_restart_each_source_once_in_order(restartable: Restartable) -> None:
    with Client(restartable.server.url, reconnect=FAST) as client:
        params = {"message": "ab", "interval": "0.02", "resumable": "1"}
        stream = client.stream("/sse3", SSE3, params=params)
        items, connections = read_across_restart(restartable, stream, 160)

    echoes = [item for item in items if isinstance(item, Echo)]
    reverses = [item for item in items if isinstance(item, ReverseEcho)]
    assert len(echoes) + len(reverses) == 160
    assert {item.data.message for item in echoes} == {"ab"}
    assert {item.data.message for item in reverses} == {"ba"}
    # The composite id of the last event says how many of each source were read: all of them.
    positions = dict(part.split(":") for part in stream.last_event_id.split(","))
    assert (int(positions["echo"]) + 1, int(positions["reverse_echo"]) + 1) == (len(echoes), len(reverses))
    assert connections >= 2


PUBLISHER = """
import sys, time, django
django.setup()
from echo.broadcast.publish import publish
from echo.demo.messages import ChatMessage, MessagePayload
for n in range(int(sys.argv[2])):
    publish(sys.argv[1], ChatMessage.create(MessagePayload(text=str(n))))
    time.sleep(0.03)  # a steady publisher, not a wait for a condition
"""


def test_a_broadcast_channel_across_a_restart_every_event_once_in_order(restartable: Restartable) -> None:
    count = 90
    with Client(restartable.server.url, reconnect=FAST) as client:
        stream = client.stream("/events/restart/", [ChatMessage])
        reader = Reader(stream, count)
        reader.start()
        wait_for(lambda: stream.connections >= 1 and stream.last_event_id != "", what="subscribed")
        publisher = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, "restart", str(count)], cwd=ROOT, env=restartable.server.env
        )
        try:
            wait_for(lambda: len(reader.items) >= count // 3, timeout=30, what="events before the restart")
            restartable.restart()
            items = reader.result()
        finally:
            assert publisher.wait(60) == 0

    assert [item.data.text for item in items] == [str(n) for n in range(count)]
    assert stream.last_event_id == f"restart:{count}"
    assert stream.connections >= 2


def test_a_refusal_raises_with_the_json_body_and_204_ends_the_stream(restartable: Restartable) -> None:
    with Client(restartable.server.url, reconnect=FAST) as client:
        with pytest.raises(StreamRefused) as refused:
            next(iter(client.stream("/sse2", SSE2, params={"interval": "fast"})))
        assert list(client.stream("/_probe/no_content", SSE2)) == []
        with pytest.raises(StreamRefused) as missing:
            next(iter(client.stream("/events/user-1/", [ChatMessage])))

    assert (refused.value.status, refused.value.error) == (400, "invalid_parameter")
    assert refused.value.body["parameter"] == "message"
    assert (missing.value.status, missing.value.error) == (403, "forbidden")


def test_an_event_it_does_not_know_is_an_unknown_event(restartable: Restartable) -> None:
    with Client(restartable.server.url) as client:
        # /sse sends `echo` as text; read as if only `reverse_echo` were known.
        first = next(iter(client.stream("/sse", [ReverseEcho], params={"message": "x", "interval": "0"})))

    assert isinstance(first, UnknownEvent)
    assert (first.event, first.id) == ("echo", "0")
    assert first.data.startswith("{'message': 'x', 'created_at': ")


def test_terminated_ends_the_stream_without_reconnecting(restartable: Restartable) -> None:
    with Client(restartable.server.url, reconnect=FAST) as client:
        stream = client.stream("/sse2", SSE2, params={"message": "t", "interval": "0.05"})
        reader = Reader(stream, 10_000)
        reader.start()
        wait_for(lambda: len(reader.items) >= 2, what="events")
        httpx.post(f"{restartable.server.url}/_probe/terminate_all", timeout=5).raise_for_status()
        items = reader.result(timeout=20)

    assert isinstance(stream.ended_by, Terminated)
    assert stream.connections == 1
    assert all(isinstance(item, Echo) for item in items)


def test_a_server_that_stays_away_is_given_up_on(restartable: Restartable) -> None:
    url = restartable.server.url
    restartable.server.stop()
    with Client(url) as client:
        stream = client.stream("/sse2", SSE2, reconnect=Reconnect(delay=0.01, max_attempts=3))
        with pytest.raises(ReconnectFailed) as failed:
            next(iter(stream))

    assert failed.value.attempts == 3
    assert isinstance(failed.value.cause, httpx.ConnectError)


def test_the_async_client_reads_typed_events_and_resumes_after_a_restart(restartable: Restartable) -> None:
    async def read(count: int, last_event_id: str = "") -> tuple[list[Echo], str]:
        async with AsyncClient(restartable.server.url, reconnect=FAST) as client:
            stream = client.stream(
                "/sse2", Echo, params={"message": "a", "interval": "0"}, last_event_id=last_event_id
            )
            async with stream:
                items = [item async for item, _ in zip_count(stream, count)]
            return items, stream.last_event_id  # type: ignore[return-value]

    first, position = run(read(5))
    restartable.restart()
    second, end = run(read(5, position))

    assert [len(first), position, len(second), end] == [5, "4", 5, "9"]
    assert all(isinstance(item, Echo) for item in first + second)


async def zip_count(stream: Any, count: int) -> Any:
    n = 0
    async for item in stream:
        yield item, n
        n += 1
        if n == count:
            return


def test_the_client_needs_no_django_settings(restartable: Restartable) -> None:
    code = (
        "import sys\n"
        "from echo.client import Client\n"
        "from echo.demo.contracts import SSE2\n"
        "with Client(sys.argv[1]) as client:\n"
        "    stream = client.stream('/sse2', SSE2, params={'message': 'm', 'interval': '0', 'limit': '2'})\n"
        "    print([type(e).__name__ for _, e in zip(range(2), stream)])\n"
        "import django.conf\n"
        "print(django.conf.settings.configured)\n"
    )
    env = {key: value for key, value in restartable.server.env.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", code, restartable.server.url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["['Echo', 'Echo']", "False"]
