"""Broadcast across processes with the real services: Redis between Daphne processes, Pushpin in front.

Redis: two Daphne processes share one SQLite file and a redis-server of the test's own. They run
`tests.settings_nopoll` (no storage poll), so an event published on one process can reach a
subscriber of the other only through Redis.

Pushpin: Debian's pushpin, on its own ports and runtime dir (`tests.pushpin`), proxies to a
Daphne process whose `GRIP_URL` is Pushpin's publish endpoint. Pushpin holds the clients'
streams; Django answers each with GRIP instructions and publishes events to Pushpin.

A missing redis-server or pushpin skips these tests, or fails them when ECHO_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
import re
import signal
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent

from ..servers import Server, daphne, run_python, server_env, wait_for
from ..services import redis_server, session_rows
from .pushpin import Pushpin, pushpin, require_pushpin, reserve_ports

pytestmark = pytest.mark.live

NOPOLL = "tests.settings_nopoll"
# Generous: only ever reached when something is broken (the read timeout ends a silent stream).
TIMEOUT = httpx.Timeout(10.0)


# -- helpers -------------------------------------------------------------------------------------


def new_channel(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def publish_http(server: Server, channel: str, text: str) -> int:
    """POST the publish form to `server` with the CSRF cookie and token the live page hands out."""
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        client.get("/").raise_for_status()
        token = client.cookies["csrftoken"]
        response = client.post(
            f"/events/{channel}/publish", data={"text": text, "csrfmiddlewaretoken": token}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["event"] == "chat_message"
    assert isinstance(body["id"], int)
    return body["id"]


def publish_command(env: dict[str, str], channel: str, text: str) -> int:
    """`manage.py publish` in a process of its own; the id it reports."""
    out = run_python("manage.py", "publish", channel, "chat_message", json.dumps({"text": text}), env=env)
    found = re.search(r"with id (\d+)", out)
    assert found, out
    return int(found.group(1))


def open_stream(stack: ExitStack, client: httpx.Client, url: str) -> Iterator[ServerSentEvent]:
    """Open an event stream and read up to its `stream-open` event: from then on it is subscribed."""
    response = stack.enter_context(client.stream("GET", url, headers={"Accept": "text/event-stream"}))
    assert response.status_code == 200, response.read()
    events = EventSource(response).iter_sse()
    first = next_event(events, "stream-open")
    assert first.event == "stream-open"
    return events


def next_event(events: Iterator[ServerSentEvent], name: str, limit: int = 50) -> ServerSentEvent:
    """The next event called `name`, skipping keep-alives (each read is bounded by the read timeout)."""
    for _ in range(limit):
        event = next(events)
        if event.event == name:
            return event
    raise AssertionError(f"no {name!r} event among the next {limit}")


def chat_text(event: ServerSentEvent) -> str:
    assert event.event == "chat_message"
    text = json.loads(event.data)["text"]
    assert isinstance(text, str)
    return text


def assert_clean_log(server: Server) -> None:
    log = server.log()
    assert "Traceback" not in log, log
    assert not re.search(r'" 5\d\d ', log), log


# -- Redis between two Daphne processes -----------------------------------------------------------


@dataclass
class RedisPair:
    redis_url: str
    a: Server
    b: Server

    def relay_listeners(self) -> int:
        """Processes subscribed to the relay channel, as Redis itself counts them."""
        import redis

        with redis.Redis.from_url(self.redis_url) as client:
            counts = client.pubsub_numsub("echo.broadcast")
        return int(counts[0][1])


@pytest.fixture(scope="module")
def redis_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisPair]:
    tmp_path = tmp_path_factory.mktemp("redis-pair")
    with (
        redis_server(tmp_path) as url,
        daphne(tmp_path, settings=NOPOLL, REDIS_URL=url) as a,
        daphne(tmp_path, settings=NOPOLL, REDIS_URL=url) as b,
    ):
        assert a.env["ECHO_SQLITE_PATH"] == b.env["ECHO_SQLITE_PATH"]  # one database, two processes
        yield RedisPair(url, a, b)
        assert_clean_log(a)
        assert_clean_log(b)


def test_event_published_on_one_process_reaches_a_subscriber_of_another_through_redis(
    redis_pair: RedisPair,
) -> None:
    channel = new_channel("relay")
    with ExitStack() as stack, httpx.Client(timeout=TIMEOUT) as client:
        events = open_stream(stack, client, f"{redis_pair.b.url}/events/{channel}/")
        # B's hub listens to Redis from its first subscriber on; A only publishes.
        wait_for(lambda: redis_pair.relay_listeners() >= 1, what="process B listening to the relay")
        event_id = publish_http(redis_pair.a, channel, "from A to B")
        event = next_event(events, "chat_message")
    assert chat_text(event) == "from A to B"
    assert event.id == f"{channel}:{event_id}"


def test_manage_py_publish_reaches_subscribers_of_both_processes_through_redis(redis_pair: RedisPair) -> None:
    channel = new_channel("command")
    with ExitStack() as stack, httpx.Client(timeout=TIMEOUT) as client:
        on_a = open_stream(stack, client, f"{redis_pair.a.url}/events/{channel}/")
        on_b = open_stream(stack, client, f"{redis_pair.b.url}/events/{channel}/")
        wait_for(lambda: redis_pair.relay_listeners() == 2, what="both processes listening to the relay")
        env = server_env(
            Path(redis_pair.a.env["ECHO_SQLITE_PATH"]), settings=NOPOLL, REDIS_URL=redis_pair.redis_url
        )
        event_id = publish_command(env, channel, "from the command line")
        received = [next_event(on_a, "chat_message"), next_event(on_b, "chat_message")]
    for event in received:
        assert chat_text(event) == "from the command line"
        assert event.id == f"{channel}:{event_id}"


# -- Pushpin (GRIP) in front of Daphne ------------------------------------------------------------


@dataclass
class GripSetup:
    pushpin: Pushpin
    django: Server

    def stats(self) -> dict[str, int]:
        body = httpx.get(f"{self.django.url}/_probe/stats", timeout=TIMEOUT).json()
        assert isinstance(body, dict)
        return body

    def live_sessions(self, channel: str) -> list[dict[str, object]]:
        return session_rows(self.django, "ended_at IS NULL AND path LIKE ?", (f"%/events/{channel}/%",))


@pytest.fixture(scope="module")
def grip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GripSetup]:
    require_pushpin()  # before any server starts
    tmp_path = tmp_path_factory.mktemp("grip")
    # Pushpin's ports first: Django must know where to publish before it starts.
    http_port, publish_port = reserve_ports()
    with daphne(tmp_path, GRIP_URL=f"http://127.0.0.1:{publish_port}") as django:
        with pushpin(
            tmp_path, origin_port=django.port, http_port=http_port, publish_port=publish_port
        ) as proxy:
            yield GripSetup(proxy, django)
        assert_clean_log(django)


def test_event_published_over_http_reaches_a_client_held_by_pushpin(grip: GripSetup) -> None:
    channel = new_channel("grip")
    with ExitStack() as stack, httpx.Client(timeout=TIMEOUT) as client:
        events = open_stream(stack, client, f"{grip.pushpin.url}/events/{channel}/")
        first_id = publish_http(grip.django, channel, "through pushpin")
        first = next_event(events, "chat_message")
        second_id = publish_http(grip.django, channel, "and again")
        second = next_event(events, "chat_message")
    assert (chat_text(first), first.id) == ("through pushpin", f"{channel}:{first_id}")
    assert (chat_text(second), second.id) == ("and again", f"{channel}:{second_id}")
    assert second_id == first_id + 1


def test_manage_py_publish_with_grip_url_reaches_a_client_held_by_pushpin(grip: GripSetup) -> None:
    channel = new_channel("grip-cmd")
    with ExitStack() as stack, httpx.Client(timeout=TIMEOUT) as client:
        events = open_stream(stack, client, f"{grip.pushpin.url}/events/{channel}/")
        # A short-lived process: the publish to Pushpin must be sent before it exits.
        event_id = publish_command(grip.django.env, channel, "from the command line")
        event = next_event(events, "chat_message")
    assert chat_text(event) == "from the command line"
    assert event.id == f"{channel}:{event_id}"


def test_clients_held_by_pushpin_take_no_open_stream_in_django(grip: GripSetup) -> None:
    channel = new_channel("held")
    clients = 20
    baseline = grip.stats()["tasks"]
    with ExitStack() as stack, httpx.Client(timeout=TIMEOUT) as client:
        streams = [
            open_stream(stack, client, f"{grip.pushpin.url}/events/{channel}/") for _ in range(clients)
        ]
        # Every client is connected and subscribed, yet Django has no task and no session for them.
        wait_for(lambda: grip.stats()["tasks"] <= baseline, what="Django's tasks back at the baseline")
        assert grip.live_sessions(channel) == []
        event_id = publish_http(grip.django, channel, "to all twenty")
        received = [next_event(events, "chat_message") for events in streams]
        assert grip.stats()["tasks"] <= baseline
        assert grip.live_sessions(channel) == []

        # The same probes do see a stream that Django itself holds.
        direct = open_stream(stack, client, f"{grip.django.url}/events/{channel}/")
        wait_for(lambda: len(grip.live_sessions(channel)) == 1, what="the direct stream's session row")
        assert grip.stats()["tasks"] > baseline
        del direct  # held open (referenced) until the probes have seen it
    assert [(chat_text(event), event.id) for event in received] == [
        ("to all twenty", f"{channel}:{event_id}")
    ] * clients


def test_pushpin_helper_stops_every_process_it_started(tmp_path: Path) -> None:
    with pushpin(tmp_path, origin_port=9, origin_serves_streams=False) as proxy:
        members = proxy.session_members()
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in members}
        # `make pushpin`, the runner (exec'd by its shell), and the services the runner starts.
        assert {"make", "pushpin", "condure", "zurl", "pushpin-proxy", "pushpin-handler"} <= names, names
        assert proxy.process.pid in members
    assert proxy.session_members() == []
    for pid in members:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert proxy.process.returncode is not None


def test_sigterm_to_make_pushpin_stops_everything_it_started(tmp_path: Path) -> None:
    # As a terminal's process manager, or `kill <pid of make>`, would stop it: make's pid alone.
    with pushpin(tmp_path, origin_port=9, origin_serves_streams=False) as proxy:
        members = proxy.session_members()
        proxy.process.send_signal(signal.SIGTERM)
        proxy.process.wait(10)
        wait_for(lambda: not proxy.session_members(), timeout=10.0, what="pushpin's services to stop")
    assert len(members) >= 6
