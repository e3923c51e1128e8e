"""A user who may no longer sign in stops listening, against real Daphne processes: the stream of
a signed-in user (its session cookie) ends with `terminated` when the user is deactivated from
another process (`manage.py shell`, over the Redis control bus) or deleted in the admin."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from httpx_sse import ServerSentEvent, connect_sse

from ..servers import Server, admin_login, daphne, run_python, wait_for
from ..services import redis_server, session_rows

pytestmark = pytest.mark.live

CREATE_USERS = """
from django.contrib.auth.models import User
User.objects.create_superuser("root", password="pw-root-3301")
print(User.objects.create_user("dave", password="pw-dave-8812", is_staff=True).pk)
"""
DEACTIVATE = """
from django.contrib.auth.models import User
user = User.objects.get(username="dave")
user.is_active = False
user.save()
"""


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


def read_until_ended(server: Server, change: Any) -> tuple[list[ServerSentEvent], dict[str, Any], int]:
    """Dave's stream, read until it ends after `change()`; its events and its session row."""
    output = run_python("manage.py", "shell", "-c", CREATE_USERS, env=server.env)
    dave = int(output.strip().splitlines()[-1])
    tag = uuid.uuid4().hex
    with httpx.Client(base_url=server.url, timeout=10) as client:
        admin_login(client, "dave", "pw-dave-8812")
        params = {"message": "mine", "interval": 0.05, "tag": tag}
        with connect_sse(client, "GET", "/sse2", params=params) as source:
            events = source.iter_sse()
            received = [next(events)]
            wait_for(lambda: session_rows(server, "query LIKE ?", (f"%tag={tag}%",)), what="dave's row")
            change()
            received += list(events)  # to the end, within the client's 10 s read timeout

    def ended() -> dict[str, Any]:
        rows = session_rows(server, "query LIKE ? AND ended_at IS NOT NULL", (f"%tag={tag}%",))
        return rows[0] if rows else {}

    return received, wait_for(ended, what="dave's row, ended"), dave


def assert_terminated(events: list[ServerSentEvent], row: dict[str, Any]) -> None:
    assert events[-1].event == "terminated"
    assert json.loads(events[-1].data) == {"reason": "terminated"}
    assert all(event.event == "echo" for event in events[:-1])
    assert row["end_reason"] == "terminated"


def test_a_user_deactivated_from_another_process_has_their_stream_ended(
    tmp_path: Path, redis_url: str
) -> None:
    with daphne(tmp_path, REDIS_URL=redis_url) as server:

        def deactivate() -> None:
            with closing(redis.Redis.from_url(redis_url)) as client:
                wait_for(lambda: client.zcard("asgi:group:echo.sessions") >= 1, what="the server on the bus")
            run_python("manage.py", "shell", "-c", DEACTIVATE, env={**server.env, "REDIS_URL": redis_url})

        events, row, dave = read_until_ended(server, deactivate)

        assert_terminated(events, row)
        assert row["user_id"] == dave
        assert "Traceback" not in server.log(), server.log()


def test_a_user_deleted_in_the_admin_has_their_stream_ended(fresh_daphne: Server) -> None:
    server = fresh_daphne
    with httpx.Client(base_url=server.url, timeout=10) as admin:

        def delete() -> None:
            admin_login(admin, "root", "pw-root-3301")
            page = admin.get(f"/admin/auth/user/{dave_id()}/delete/")
            assert page.status_code == 200
            response = admin.post(
                f"/admin/auth/user/{dave_id()}/delete/",
                data={"post": "yes", "csrfmiddlewaretoken": admin.cookies["csrftoken"]},
            )
            assert response.status_code == 302, response.text

        def dave_id() -> int:
            out = run_python(
                "manage.py",
                "shell",
                "-c",
                "from django.contrib.auth.models import User; print(User.objects.get(username='dave').pk)",
                env=server.env,
            )
            return int(out.strip().splitlines()[-1])

        events, row, _ = read_until_ended(server, delete)

    assert_terminated(events, row)
    assert row["user_id"] is None  # the delete set it null
    assert "Terminate requested by the deletion of user dave" in server.log(), server.log()
