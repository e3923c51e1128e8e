"""Broadcast channels over HTTP: real Daphne processes, httpx and the httpx-sse parser.

Events are published three ways: over HTTP (`POST /events/<channel>/publish`, delivered by the
server's own hub), and from other processes (`manage.py publish`, or a script calling `publish()`),
which the server finds by polling storage. Besides the plain cases these tests prove the
weaknesses of django-eventstream's own view beaten: an OS thread per open stream, events dropped
when a listener's queue is full, and events lost by a subscriber that connects mid-publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from httpx_sse import ServerSentEvent, aconnect_sse, connect_sse

from echo.client import Client, Reconnect
from echo.demo.messages import ChatMessage
from echo.sse.wire.control import StreamOpen

from ..loops import run
from ..servers import ROOT, Server, admin_login, daphne, run_python, wait_for

pytestmark = pytest.mark.live

DEADLINE = 10.0  # seconds: a read timeout for every request, so a missing event fails, never hangs


def check_log(server: Server, start: int) -> None:
    """No server error the client could not see, and no storage read the hub failed."""
    new_log = server.log()[start:]
    assert "Traceback" not in new_log, new_log
    assert not re.search(r'" 5\d\d ', new_log), new_log
    assert "Could not" not in new_log, new_log


@pytest.fixture(scope="module")
def broadcast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A Daphne process of this module's own: its tests publish and log in against its database."""
    with daphne(tmp_path_factory.mktemp("broadcast")) as server:
        yield server


@pytest.fixture
def server(broadcast_server: Server) -> Iterator[Server]:
    start = len(broadcast_server.log())
    yield broadcast_server
    check_log(broadcast_server, start)


def position(event_id: str | None, channel: str) -> int:
    """`demo:7` -> 7, checking that the id names `channel` alone."""
    assert event_id is not None
    name, _, number = event_id.partition(":")
    assert name == channel, event_id
    assert number.isdigit(), event_id
    return int(number)


def text_of(event: ServerSentEvent) -> str:
    payload = json.loads(event.data)
    assert set(payload) == {"text", "sent_at"}
    datetime.fromisoformat(payload["sent_at"])
    text = payload["text"]
    assert isinstance(text, str)
    return text


def manage(server: Server, *args: str) -> str:
    """`manage.py ARGS` in another process, against the server's database."""
    return run_python("manage.py", *args, env=server.env)


def python_in(server: Server, code: str) -> str:
    """Run `code` in another Django process against the server's database; its output."""
    return run_python("-c", f"import django\ndjango.setup()\n{code}", env=server.env)


def publish_many_code(channel: str, count: int, prefix: str, *, at_once: bool = False) -> str:
    """Code that publishes `count` chat messages and prints `id text` for each.

    `at_once` publishes them in one transaction: other processes see all of them in the same
    instant, so a server's storage poll hands its hub the whole batch in one step.
    """
    return f"""
import contextlib
from django.db import transaction
from echo.broadcast.publish import publish
from echo.demo.messages import ChatMessage, MessagePayload

with transaction.atomic() if {at_once!r} else contextlib.nullcontext():
    for n in range({count}):
        text = f"{prefix}{{n}}"
        print(publish({channel!r}, ChatMessage.create(MessagePayload(text=text))), text)
"""


def published(output: str) -> dict[int, str]:
    pairs = (line.split(" ", 1) for line in output.splitlines())
    return {int(event_id): text for event_id, text in pairs}


async def publish_in_another_process(server: Server, code: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        f"import django\ndjango.setup()\n{code}",
        cwd=ROOT,
        env=server.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    return out.decode()


def csrf_token(client: httpx.Client) -> str:
    """The csrftoken cookie the live page sets, left in the client's cookie jar."""
    response = client.get("/")
    assert response.status_code == 200
    return response.cookies["csrftoken"]


async def acsrf_token(client: httpx.AsyncClient) -> str:
    response = await client.get("/")
    assert response.status_code == 200
    return response.cookies["csrftoken"]


async def apost(client: httpx.AsyncClient, token: str, channel: str, text: str) -> int:
    response = await client.post(
        f"/events/{channel}/publish", data={"text": text}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["channel"], body["event"]) == (channel, "chat_message")
    assert isinstance(body["id"], int)
    return body["id"]


# -- publishing and receiving ----------------------------------------------------------------------


def test_chat_messages_from_another_process_and_over_http_arrive_typed_with_channel_ids(
    server: Server,
) -> None:
    # Read with the typed client (echo.client), listing StreamOpen so that it is yielded too.
    once = Reconnect(max_attempts=1)  # a missing event fails the test, never a reconnection loop
    with (
        httpx.Client(base_url=server.url, timeout=DEADLINE) as http,
        Client(http=http, reconnect=once) as client,
    ):
        token = csrf_token(http)
        stream = client.stream("/events/demo/", [StreamOpen, ChatMessage])
        with stream:
            events = iter(stream)
            opened = next(events)
            assert opened == StreamOpen(data="")
            start = position(stream.last_event_id, "demo")

            # Another process: the server hears nothing from it and finds the event in storage.
            out = manage(server, "publish", "demo", "chat_message", '{"text": "from the shell"}')
            assert out == f"Published chat_message to demo with id {start + 1}.\n"
            from_shell = next(events)
            from_shell_id = stream.last_event_id

            response = http.post(
                "/events/demo/publish", data={"text": "over http"}, headers={"X-CSRFToken": token}
            )
            assert response.status_code == 200
            assert response.json() == {"channel": "demo", "id": start + 2, "event": "chat_message"}
            over_http = next(events)
            over_http_id = stream.last_event_id

    assert isinstance(from_shell, ChatMessage)
    assert isinstance(over_http, ChatMessage)
    assert (from_shell_id, from_shell.data.text) == (f"demo:{start + 1}", "from the shell")
    assert (over_http_id, over_http.data.text) == (f"demo:{start + 2}", "over http")
    assert stream.connections == 1


def test_under_daphne_the_hub_writes_to_waiting_subscribers_and_their_counters_follow(server: Server) -> None:
    # The query string only names the stream for the probe (the view ignores it).
    tag = "probe=direct"
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
        token = csrf_token(client)
        with connect_sse(client, "GET", f"/events/direct/?{tag}") as source:
            events = source.iter_sse()
            start = position(next(events).id, "direct")
            stats = client.get("/_probe/stats").json()
            assert stats["writes_now"][tag] is settings.OPTIMISATIONS
            before = stats["hub"]
            for n in range(1, 4):
                response = client.post(
                    "/events/direct/publish", data={"text": f"m{n}"}, headers={"X-CSRFToken": token}
                )
                assert response.status_code == 200
            received = [next(events) for _ in range(3)]
            after = client.get("/_probe/stats").json()
            live = after["live_events"]

    assert [(event.id, text_of(event)) for event in received] == [
        (f"direct:{start + n}", f"m{n}") for n in (1, 2, 3)
    ]
    assert live[tag] == 4  # stream-open and the three, however each was written
    # Counted, not claimed: each of the three was written by the hub's own call (with direct
    # sends on), or queued for the subscriber's task (off). Other tests may share the server.
    written = after["hub"]["direct"] - before["direct"]
    queued = after["hub"]["queued"] - before["queued"]
    assert (written, queued) == ((3, 0) if settings.OPTIMISATIONS else (0, 3)), after["hub"]


def test_publishing_without_the_csrf_token_is_refused_and_publishes_nothing(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
        token = csrf_token(client)
        with connect_sse(client, "GET", "/events/csrf/") as source:
            events = source.iter_sse()
            start = position(next(events).id, "csrf")

            refusals = [
                client.post("/events/csrf/publish", data={"text": "cookie, no header"}),
                httpx.post(f"{server.url}/events/csrf/publish", data={"text": "nothing"}),
                httpx.post(
                    f"{server.url}/events/csrf/publish",
                    data={"text": "header, no cookie"},
                    headers={"X-CSRFToken": token},
                ),
            ]
            assert [r.status_code for r in refusals] == [403, 403, 403]

            accepted = client.post(
                "/events/csrf/publish", data={"text": "with token"}, headers={"X-CSRFToken": token}
            )
            assert accepted.json()["id"] == start + 1
            event = next(events)

    assert (event.id, text_of(event)) == (f"csrf:{start + 1}", "with token")


def test_publish_endpoint_refuses_bad_requests_with_json(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
        headers = {"X-CSRFToken": csrf_token(client)}
        empty = client.post("/events/demo/publish", data={"text": ""}, headers=headers)
        too_long = client.post("/events/demo/publish", data={"text": "x" * 1001}, headers=headers)
        bad_channel = client.post("/events/-demo/publish", data={"text": "hi"}, headers=headers)
        not_post = client.get("/events/demo/publish")

    for response in (empty, too_long):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_parameter"
        assert response.json()["parameter"] == "text"
    assert bad_channel.status_code == 400
    assert bad_channel.json()["error"] == "invalid_channel"
    assert not_post.status_code == 405
    assert not_post.headers["allow"] == "POST"
    assert not_post.json()["error"] == "method_not_allowed"


# -- access ----------------------------------------------------------------------------------------

CREATE_USERS = """
from django.contrib.auth.models import User
for name in ("alice", "bob"):
    print(User.objects.create_user(name, password=f"pw-{name}-9472", is_staff=True).pk)
"""


@dataclass
class Users:
    alice: int
    bob: int


@pytest.fixture(scope="module")
def users(broadcast_server: Server) -> Users:
    alice, bob = (int(line) for line in python_in(broadcast_server, CREATE_USERS).split())
    return Users(alice, bob)


@contextlib.contextmanager
def logged_in(server: Server, name: str) -> Iterator[httpx.Client]:
    """A client with the session of `name`, logged in through the admin's login form."""
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
        admin_login(client, name, f"pw-{name}-9472")
        yield client


def test_a_user_channel_is_readable_only_by_that_user(server: Server, users: Users) -> None:
    mine = f"user-{users.alice}"
    anonymous = httpx.get(f"{server.url}/events/{mine}/", timeout=DEADLINE)
    mixed = httpx.get(f"{server.url}/events/demo,{mine}/", timeout=DEADLINE)

    for response in (anonymous, mixed):
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "error": "forbidden",
            "detail": f"Permission denied to channels: {mine}",
            "channels": [mine],
        }

    with logged_in(server, "bob") as bob:
        assert bob.get(f"/events/{mine}/").status_code == 403
        refused = bob.post(
            f"/events/{mine}/publish", data={"text": "hi"}, headers={"X-CSRFToken": bob.cookies["csrftoken"]}
        )
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"

    with logged_in(server, "alice") as alice, connect_sse(alice, "GET", f"/events/{mine}/") as source:
        assert source.response.status_code == 200
        events = source.iter_sse()
        start = position(next(events).id, mine)
        sent = alice.post(
            f"/events/{mine}/publish",
            data={"text": "note to self"},
            headers={"X-CSRFToken": alice.cookies["csrftoken"]},
        )
        assert sent.json()["id"] == start + 1
        event = next(events)
    assert (event.event, event.id, text_of(event)) == ("chat_message", f"{mine}:{start + 1}", "note to self")


@pytest.mark.parametrize(
    ("channels", "bad"),
    [
        ("-demo", ["-demo"]),
        ("a:b", ["a:b"]),
        ("demo,,x", [""]),
        ("demo,a%20b", ["a b"]),
        ("x" * 101, ["x" * 101]),
    ],
)
def test_a_bad_channel_name_is_a_400_json_naming_it(server: Server, channels: str, bad: list[str]) -> None:
    response = httpx.get(f"{server.url}/events/{channels}/", timeout=DEADLINE)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_channel"
    assert response.json()["channels"] == bad


@pytest.mark.parametrize(
    ("channels", "last_event_id"),
    [
        ("demo", "demo:x"),
        ("demo", "nonsense"),
        ("demo", "demo:-1"),
        ("demo", ":3"),
        ("demo,other", "5"),  # a bare number cannot say which of two channels
    ],
)
def test_a_bad_last_event_id_is_a_400_json(server: Server, channels: str, last_event_id: str) -> None:
    url = f"{server.url}/events/{channels}/"
    for response in (
        httpx.get(url, headers={"Last-Event-ID": last_event_id}, timeout=DEADLINE),
        httpx.get(url, params={"lastEventId": last_event_id}, timeout=DEADLINE),
    ):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_last_event_id"
        assert repr(last_event_id) in response.json()["detail"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_get_and_head_may_read_a_channel(server: Server, method: str) -> None:
    response = httpx.request(method, f"{server.url}/events/x/", timeout=DEADLINE)

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["error"] == "method_not_allowed"


# -- resume without loss ---------------------------------------------------------------------------


@dataclass
class Reader:
    """A subscriber that drops its connection after a random number of events and resumes."""

    channel: str
    rng: random.Random
    received: list[tuple[int, str]] = field(default_factory=list)
    connections: int = 0
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, client: httpx.AsyncClient, final: int) -> None:
        last_id: str | None = None
        while not self.received or self.received[-1][0] < final:
            headers = {} if last_id is None else {"Last-Event-ID": last_id}
            budget = self.rng.randint(0, 120)  # 0: drop straight after `stream-open`
            async with aconnect_sse(client, "GET", f"/events/{self.channel}/", headers=headers) as source:
                assert source.response.status_code == 200
                self.connections += 1
                events = source.aiter_sse()
                opened = await anext(events)
                assert opened.event == "stream-open"
                if last_id is not None:
                    assert opened.id == last_id  # it resumes exactly where the client says
                last_id = opened.id
                self.opened.set()
                while budget > 0 and (not self.received or self.received[-1][0] < final):
                    event = await anext(events)
                    self.received.append((position(event.id, self.channel), text_of(event)))
                    last_id = event.id
                    budget -= 1


def test_subscribers_that_drop_and_resume_get_every_event_exactly_once_in_order(server: Server) -> None:
    channel, http_count, shell_count = "resume", 800, 200
    rng = random.Random(20240501)
    readers = [Reader(channel, random.Random(rng.random())) for _ in range(5)]

    async def main() -> dict[int, str]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=server.url, timeout=DEADLINE, limits=limits) as client:
            token = await acsrf_token(client)

            async def post_many(publisher: int, count: int) -> dict[int, str]:
                sent = {}
                for n in range(count):
                    text = f"http{publisher}-{n}"
                    sent[await apost(client, token, channel, text)] = text
                return sent

            final = http_count + shell_count  # a fresh channel: its ids are 1..final
            tasks = [asyncio.create_task(reader.run(client, final)) for reader in readers]
            async with asyncio.timeout(60):
                await asyncio.gather(*(reader.opened.wait() for reader in readers))
                # Two HTTP publishers race each other, and a third process publishes meanwhile.
                batches = await asyncio.gather(
                    post_many(0, http_count // 2),
                    post_many(1, http_count // 2),
                    publish_in_another_process(server, publish_many_code(channel, shell_count, "shell-")),
                )
                await asyncio.gather(*tasks)
        sent = {**batches[0], **batches[1], **published(batches[2])}
        assert len(sent) == final
        return sent

    sent = run(main())

    expected = sorted(sent.items())
    assert [event_id for event_id, _ in expected] == list(range(1, len(sent) + 1))
    for reader in readers:
        assert reader.received == expected  # every id exactly once, in order, with its own data
        assert reader.connections >= 5  # it really did drop and resume, many times


# -- django-eventstream's weaknesses, beaten -----------------------------------------------------------


def test_fifty_open_streams_hold_no_thread_each(fresh_daphne: Server) -> None:
    server = fresh_daphne
    start = len(server.log())
    threads: dict[str, int] = {"idle": server.threads()}

    async def main() -> list[ServerSentEvent]:
        limits = httpx.Limits(max_connections=60)
        async with httpx.AsyncClient(base_url=server.url, timeout=DEADLINE, limits=limits) as client:
            opened = [asyncio.Event() for _ in range(50)]

            async def subscribe(ready: asyncio.Event) -> ServerSentEvent:
                async with aconnect_sse(client, "GET", "/events/demo/") as source:
                    events = source.aiter_sse()
                    assert (await anext(events)).event == "stream-open"
                    ready.set()
                    return await anext(events)

            async with asyncio.timeout(30):
                tasks = [asyncio.create_task(subscribe(ready)) for ready in opened]
                await asyncio.gather(*(ready.wait() for ready in opened))
                threads["50 open"] = server.threads()
                await apost(client, await acsrf_token(client), "demo", "to all fifty")
                received = await asyncio.gather(*tasks)
                return received

    received = run(main())

    assert [text_of(event) for event in received] == ["to all fifty"] * 50  # all fifty were live
    # Bounded by the threads the handler keeps for requests' sync parts (ECHO["SYNC_THREADS"],
    # 16 by default) plus a few of the server's own; never one per open stream.
    assert threads["50 open"] < 16 + 10, threads
    check_log(server, start)


@pytest.fixture(
    params=["tests.settings_small_buffer", "tests.settings_small_buffer_queued"], ids=["direct", "queued"]
)
def small_buffer_daphne(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A Daphne whose subscribers may fall only 5 events behind (`ECHO["BROADCAST_BUFFER"]`).

    With direct writes (the default) the hub writes each event to a subscriber that waits for
    one, so a burst handed over in one step never queues; "queued" turns them off, so the same
    burst overflows the subscriber's buffer and is caught up from storage.
    """
    with daphne(tmp_path, settings=request.param) as server:
        yield server


def test_a_subscriber_far_behind_is_caught_up_from_storage_not_dropped(small_buffer_daphne: Server) -> None:
    server = small_buffer_daphne
    assert server.env["DJANGO_SETTINGS_MODULE"].startswith("tests.settings_small_buffer")
    start = len(server.log())
    channel, batch, burst = "slow", 200, 200

    async def main() -> tuple[list[tuple[int, str]], dict[int, str]]:
        limits = httpx.Limits(max_connections=10)
        async with httpx.AsyncClient(base_url=server.url, timeout=DEADLINE, limits=limits) as client:
            token = await acsrf_token(client)
            async with asyncio.timeout(60), aconnect_sse(client, "GET", f"/events/{channel}/") as source:
                events = source.aiter_sse()
                assert position((await anext(events)).id, channel) == 0
                # The subscriber reads nothing while 400 events are published. The first 200 are
                # committed at once by another process, so the server's poll hands them to the hub
                # in one step: forty times what the subscriber's buffer holds.
                sent = published(
                    await publish_in_another_process(
                        server, publish_many_code(channel, batch, "batch-", at_once=True)
                    )
                )

                async def post_many(publisher: int) -> None:
                    for n in range(burst // 4):
                        text = f"burst{publisher}-{n}"
                        sent[await apost(client, token, channel, text)] = text

                await asyncio.gather(*(post_many(publisher) for publisher in range(4)))
                received = [
                    (position(event.id, channel), text_of(event))
                    for event in [await anext(events) for _ in range(batch + burst)]
                ]
                # One more: it is the next one, so nothing is still queued twice.
                sent[await apost(client, token, channel, "after")] = "after"
                event = await anext(events)
                received.append((position(event.id, channel), text_of(event)))
                return received, sent

    received, sent = run(main())

    assert received == sorted(sent.items())
    assert [event_id for event_id, _ in received] == list(range(1, batch + burst + 2))
    check_log(server, start)
    counted = httpx.get(f"{server.url}/_probe/stats", timeout=DEADLINE).json()["hub"]
    if server.env["DJANGO_SETTINGS_MODULE"].endswith("_queued"):
        # Nothing written directly: the poll's batch of 200 overflowed the 5-event buffer, and the
        # subscriber caught up from storage.
        assert counted["direct"] == 0, counted
        assert counted["overflows"] >= 1, counted
    elif settings.OPTIMISATIONS:
        assert counted["direct"] >= 1, counted


def test_a_subscriber_that_connects_mid_publish_misses_nothing_after_its_start(server: Server) -> None:
    channel, rounds, follow = "race", 24, 3

    async def main() -> list[tuple[int, list[int]]]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=server.url, timeout=DEADLINE, limits=limits) as client:
            token = await acsrf_token(client)
            stop = asyncio.Event()

            async def publisher() -> None:
                for n in range(5000):  # bounded; `stop` ends it long before
                    if stop.is_set():
                        return
                    await apost(client, token, channel, f"m{n}")

            async def connect_once() -> tuple[int, list[int]]:
                async with aconnect_sse(client, "GET", f"/events/{channel}/") as source:
                    events = source.aiter_sse()
                    opened = await anext(events)
                    assert opened.event == "stream-open"
                    start = position(opened.id, channel)
                    return start, [position((await anext(events)).id, channel) for _ in range(follow)]

            async def keeper(kept_open: asyncio.Event, release: asyncio.Event) -> None:
                async with aconnect_sse(client, "GET", f"/events/{channel}/") as source:
                    await anext(source.aiter_sse())
                    kept_open.set()
                    await release.wait()

            results = []
            publishing = asyncio.create_task(publisher())
            try:
                async with asyncio.timeout(60):
                    # First with nobody else on the channel (the hub sets it up from storage for each
                    # newcomer), then beside a subscriber that keeps the channel open.
                    for _ in range(rounds // 2):
                        results.append(await connect_once())
                    kept_open, release = asyncio.Event(), asyncio.Event()
                    kept = asyncio.create_task(keeper(kept_open, release))
                    await kept_open.wait()
                    for _ in range(rounds // 2):
                        results.append(await connect_once())
                    release.set()
                    await kept
            finally:
                stop.set()
                await publishing
            return results

    results = run(main())

    assert len(results) == rounds
    for start, following in results:
        assert following == [start + 1 + n for n in range(follow)], (start, following)
    assert len({start for start, _ in results}) > 1  # they did connect while events were going out


def test_a_subscription_is_recorded_under_its_channels(server: Server) -> None:
    from ..services import session_rows

    with (
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
        connect_sse(client, "GET", "/events/named-a,named-b/") as source,
    ):
        assert next(source.iter_sse()).event == "stream-open"

    def recorded() -> list[dict[str, object]]:
        return session_rows(server, "path = ?", ("/events/named-a,named-b/",))

    (row,) = wait_for(recorded, what="the subscription's session row")
    # Named after the channels' declaration (the tests' catch-all), the channels in its path.
    assert row["stream"] == "events:{channel}"
