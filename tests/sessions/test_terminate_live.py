"""An operator ends a live stream from the admin, over real HTTP, in one process or across two.

The admin action publishes "terminate these sessions" on the channels layer; the process that
serves the stream ends it with a final `terminated` event carrying a `retry` hint.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from httpx_sse import ServerSentEvent, connect_sse

from ..servers import Server, daphne, run_python, wait_for
from ..services import redis_server, session_rows

pytestmark = pytest.mark.live

USERNAME = "operator"
PASSWORD = "a-long-test-password-9417"
CHANGELIST = "/admin/echo_sessions/streamsession/"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


def create_superuser(server: Server) -> None:
    env = {**server.env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD, "DJANGO_SUPERUSER_EMAIL": "ops@example.com"}
    run_python("manage.py", "createsuperuser", "--noinput", "--username", USERNAME, env=env)


def log_in(client: httpx.Client) -> str:
    """Log in through the admin's login form; returns the CSRF token for further posts."""
    form = client.get("/admin/login/")
    assert form.status_code == 200
    token = client.cookies["csrftoken"]
    response = client.post(
        "/admin/login/?next=/admin/",
        data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"},
    )
    assert response.status_code == 302, response.text
    assert response.headers["location"] == "/admin/"
    return client.cookies["csrftoken"]  # rotated by the login


def terminate_from_admin(client: httpx.Client, csrf: str, *session_ids: str, level: str = "success") -> str:
    """POST the changelist action for these sessions; returns the message (of `level`) the admin
    shows next."""
    response = client.post(
        CHANGELIST,
        data={
            "csrfmiddlewaretoken": csrf,
            "action": "terminate_sessions",
            "select_across": "0",
            "index": "0",
            "_selected_action": [str(uuid.UUID(session_id)) for session_id in session_ids],
        },
    )
    assert response.status_code == 302, response.text
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    messages = re.findall(rf'<li class="{level}">(.*?)</li>', page.text)
    assert messages, page.text
    return str(messages[0])


def live_session(server: Server, token: str) -> dict[str, Any]:
    def row() -> dict[str, Any]:
        rows = session_rows(server, "query LIKE ?", (f"%tag={token}%",))
        return rows[0] if rows else {}

    return wait_for(row, what=f"the session row of {token}")


def assert_ended_by_terminate(
    server: Server, token: str, received: int, events: list[ServerSentEvent]
) -> None:
    final = events[-1]
    assert final.event == "terminated"
    assert final.retry == 3000
    assert json.loads(final.data) == {"reason": "terminated"}
    assert all(e.event == "echo" for e in events[:-1])

    def ended() -> dict[str, Any]:
        rows = session_rows(server, "query LIKE ? AND ended_at IS NOT NULL", (f"%tag={token}%",))
        return rows[0] if rows else {}

    row = wait_for(ended, what="the terminated session's row to end")
    assert row["end_reason"] == "terminated"
    # The final event is not an event of the stream: it is in the bytes, not in the count.
    assert row["events_sent"] == len(events) - 1
    assert row["bytes_sent"] == received


def stream_then_terminate(stream_server: Server, admin_server: Server) -> None:
    token = uuid.uuid4().hex
    params = {"message": "stop me", "interval": 0.05, "tag": token}
    with (
        httpx.Client(base_url=admin_server.url, timeout=10) as admin,
        httpx.Client(base_url=stream_server.url, timeout=10) as client,
        connect_sse(client, "GET", "/sse2", params=params) as source,
    ):
        csrf = log_in(admin)
        reader = source.iter_sse()
        events = [next(reader)]
        session = live_session(stream_server, token)
        assert session["ended_at"] is None
        assert session["server"].endswith(f":{stream_server.pid}")

        message = terminate_from_admin(admin, csrf, session["id"])
        assert message == "Asked 1 live session(s) to end."
        # Read to the end: an error here (a truncated chunked body) would mean an unclean end.
        events += list(reader)
        received = source.response.num_bytes_downloaded
        assert source.response.is_stream_consumed
    assert_ended_by_terminate(stream_server, token, received, events)
    for server in {stream_server.pid: stream_server, admin_server.pid: admin_server}.values():
        assert "Traceback" not in server.log(), server.log()


def test_admin_action_terminates_a_live_stream_with_a_final_event(fresh_daphne: Server) -> None:
    create_superuser(fresh_daphne)
    stream_then_terminate(fresh_daphne, fresh_daphne)


def wait_until_subscribed(redis_url: str, processes: int) -> None:
    """Wait until that many processes have joined the bus group (channels_redis's group key).

    A process joins when it opens its first recorded stream; the join and the session's insert
    race, so the row can be visible a moment before the process would hear a terminate.
    """
    with closing(redis.Redis.from_url(redis_url)) as client:
        wait_for(
            lambda: client.zcard("asgi:group:echo.sessions") >= processes,
            what=f"{processes} process(es) in the echo.sessions group",
        )


def test_admin_on_one_process_terminates_a_stream_served_by_another_over_redis(
    tmp_path: Path, redis_url: str
) -> None:
    with (
        daphne(tmp_path, REDIS_URL=redis_url) as streaming,
        daphne(tmp_path, REDIS_URL=redis_url) as admin,
    ):
        assert streaming.env["ECHO_SQLITE_PATH"] == admin.env["ECHO_SQLITE_PATH"]
        create_superuser(admin)
        token = uuid.uuid4().hex
        # Open (and finish) one stream first, so that the streaming process has joined the bus.
        with httpx.Client(base_url=streaming.url, timeout=10) as client:
            params = {"message": "warm", "interval": 0, "limit": 1, "tag": token}
            with connect_sse(client, "GET", "/sse2", params=params) as source:
                list(source.iter_sse())
        wait_until_subscribed(redis_url, 1)
        stream_then_terminate(streaming, admin)
