"""Redis stopped and started again under two Daphne processes, with a publisher in a third.

Both processes serve a subscriber of one channel and share one SQLite file; `manage.py publish`
(a process of its own each time) publishes before, during and after the outage. Redis restarts
empty, as a real one without persistence does: the relay's subscriptions and the control bus's
group membership are gone and each process must make them again by itself.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from echo.client import Client, Reconnect
from echo.demo.messages import ChatMessage

from ..client.test_client_live import Reader
from ..servers import Server, daphne, server_env, wait_for
from ..services import restartable_redis
from ..sessions.test_terminate_live import (
    create_superuser,
    live_session,
    log_in,
    stream_then_terminate,
    terminate_from_admin,
    wait_until_subscribed,
)
from .test_scaleout_live import RedisPair, assert_clean_log, publish_command

pytestmark = pytest.mark.live

FAST = Reconnect(delay=0.1, max_delay=0.5, jitter=0.5, max_attempts=20)
PHASES = ("before", "while down", "after")
EACH = 4


def test_redis_outage_every_stored_event_reaches_every_subscriber_once_and_terminate_comes_back(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp_path = tmp_path_factory.mktemp("redis-outage")
    channel = f"outage-{uuid.uuid4().hex[:8]}"
    total = EACH * len(PHASES)
    with (
        restartable_redis(tmp_path) as redis,
        daphne(tmp_path, REDIS_URL=redis.url) as a,
        daphne(tmp_path, REDIS_URL=redis.url) as b,
        Client(a.url, reconnect=FAST) as on_a,
        Client(b.url, reconnect=FAST) as on_b,
    ):
        pair = RedisPair(redis.url, a, b)
        publisher = server_env(Path(a.env["ECHO_SQLITE_PATH"]), REDIS_URL=redis.url)
        create_superuser(a)  # one database: an operator of both
        streams = [client.stream(f"/events/{channel}/", [ChatMessage]) for client in (on_a, on_b)]
        readers = [Reader(stream, total) for stream in streams]
        for reader in readers:
            reader.start()

        def each_has(count: int) -> bool:
            return all(len(reader.items) >= count for reader in readers)

        # Both subscribed (recorded streams: both processes joined the control bus too).
        wait_for(lambda: pair.relay_listeners() == 2, what="both processes on the relay")
        wait_until_subscribed(redis.url, 2)
        wait_for(lambda: all(stream.connections == 1 for stream in streams), what="both subscriptions")

        for done_phases, phase in enumerate(PHASES, 1):
            if phase == "while down":
                redis.stop()
                terminate_while_down(a, b)
            if phase == "after":
                redis.start()  # empty: no subscriber, no group member until the processes return
                wait_for(lambda: pair.relay_listeners() == 2, timeout=30, what="both back on the relay")
                wait_until_subscribed(redis.url, 2)
            for n in range(EACH):
                publish_command(publisher, channel, f"{phase} {n}")  # exits 0 while Redis is down
            done = done_phases * EACH
            wait_for(lambda done=done: each_has(done), timeout=30, what=f"{done} events on both")

        # Terminate, handled by either process, reaches the other again.
        stream_then_terminate(b, a)
        stream_then_terminate(a, b)
        results = [[item.data.text for item in reader.result()] for reader in readers]

    expected = [f"{phase} {n}" for phase in PHASES for n in range(EACH)]
    assert results == [expected, expected]  # every event on both, once each, in order
    assert [stream.last_event_id for stream in streams] == [f"{channel}:{total}"] * 2
    assert [stream.connections for stream in streams] == [1, 1]  # no stream broke for it
    for server in (a, b):
        quiet(server)


def terminate_while_down(admin_server: Server, other: Server) -> None:
    """The admin's terminate with the bus down: the handling process ends its own session and
    says the others were not reached; the other process's session goes on."""
    with ExitStack() as stack, httpx.Client(base_url=admin_server.url, timeout=10) as admin:
        csrf = log_in(admin)
        readers, ids = [], []
        for server in (admin_server, other):
            token = uuid.uuid4().hex
            client = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
            params = {"message": "down", "interval": 0.05, "tag": token}
            source = stack.enter_context(connect_sse(client, "GET", "/sse2", params=params))
            events = source.iter_sse()  # kept: a dropped iterator closes its response
            assert next(events).event == "echo"
            readers.append(events)
            ids.append(live_session(server, token)["id"])
        message = terminate_from_admin(admin, csrf, *ids, level="warning")
        assert message == (
            "The other server processes cannot be reached (the control bus is down): only the "
            "sessions this process serves were ended. Ask again when it is back."
        )
        here, elsewhere = readers
        assert [event.event for event in here][-1] == "terminated"
        assert next(elsewhere).event == "echo"  # still streaming


def quiet(server: Server) -> None:
    """No traceback or 5xx, and the outage said in a few lines rather than one per retry."""
    assert_clean_log(server)
    log = server.log()
    assert log.count("Lost Redis at") == 1, log
    assert log.count("Reached Redis at") == 1, log
    assert log.count("control listener lost its layer") == 1, log
    assert log.count("control listener joined echo.sessions") == 1, log
