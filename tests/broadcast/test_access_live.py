"""Channel access as declared (issue 28): a per-user pattern is private because its declaration
says so, not because of its name; the publish endpoint answers every refusal with a JSON 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from httpx_sse import connect_sse

from ..servers import Server, admin_login, daphne, run_python

pytestmark = pytest.mark.live

USERS = """
from django.contrib.auth.models import Permission, User
for name, grant in (("owner", False), ("other", False), ("writer", True)):
    user = User.objects.create_user(name, password=f"pw-{name}-5120", is_staff=True)
    if grant:
        publish = Permission.objects.get(codename="publish", content_type__app_label="echo_broadcast")
        user.user_permissions.add(publish)
    print("user", name, user.pk)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with daphne(tmp_path_factory.mktemp("access"), settings="tests.settings_site_channels") as running:
        yield running


@pytest.fixture(scope="module")
def users(server: Server) -> dict[str, int]:
    out = run_python("manage.py", "shell", "-c", USERS, env=server.env)
    rows = (line.split() for line in out.splitlines() if line.startswith("user "))
    return {name: int(pk) for _, name, pk in rows}


@contextmanager
def client_as(server: Server, name: str | None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        if name is not None:
            admin_login(client, name, f"pw-{name}-5120")
        client.get("/")  # the CSRF cookie (login rotates it)
        yield client


def post(client: httpx.Client, channel: str, **kwargs: object) -> httpx.Response:
    return client.post(
        f"/events/{channel}/publish", headers={"X-CSRFToken": client.cookies["csrftoken"]}, **kwargs
    )


@pytest.mark.parametrize("who", [None, "owner", "other", "writer"])
def test_a_pattern_declared_without_a_read_rule_is_readable_by_no_one(
    server: Server, users: dict[str, int], who: str | None
) -> None:
    channel = f"orders-{users['owner']}"
    with client_as(server, who) as client:
        response = client.get(f"/events/{channel}/")
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "detail": f"Permission denied to channels: {channel}",
        "channels": [channel],
    }


@pytest.mark.parametrize(("who", "status"), [(None, 403), ("other", 403), ("writer", 403), ("owner", 200)])
def test_a_pattern_owned_by_its_id_parameter_is_readable_by_that_user_alone(
    server: Server, users: dict[str, int], who: str | None, status: int
) -> None:
    channel = f"inbox-{users['owner']}"
    with client_as(server, who) as client, client.stream("GET", f"/events/{channel}/") as response:
        assert response.status_code == status


def test_the_owner_publishes_to_their_channel_as_json_and_reads_it(
    server: Server, users: dict[str, int]
) -> None:
    channel = f"inbox-{users['owner']}"
    with client_as(server, "owner") as client, connect_sse(client, "GET", f"/events/{channel}/") as source:
        events = source.iter_sse()
        assert next(events).event == "stream-open"
        sent = post(client, channel, json={"event": "chat_message", "data": {"text": "as json"}})
        assert sent.status_code == 200, sent.text
        received = next(events)
        with client_as(server, "other") as other:
            refused = post(other, channel, json={"data": {"text": "not mine"}})
    assert (received.event, json.loads(received.data)["text"]) == ("chat_message", "as json")
    assert received.id == f"{channel}:{sent.json()['id']}"
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"json": {"event": "echo", "data": {"message": "x"}}}, 400, "unknown_event"),
        ({"json": {"event": "chat_message", "data": {"text": ""}}}, 400, "invalid_parameter"),
        ({"json": {"event": "chat_message", "data": {"text": 5}}}, 400, "invalid_parameter"),
        ({"json": ["not", "an", "object"]}, 400, "invalid_body"),
        ({"json": {"event": 7, "data": {}}}, 400, "invalid_body"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "invalid_body"),
        ({"json": {"data": {"text": "x" * 70_000}}}, 413, "too_large"),
        ({"data": {"event": "reverse_echo", "text": "hi"}}, 400, "unknown_event"),
    ],
)
def test_a_permitted_publisher_s_bad_request_is_a_json_4xx(
    server: Server, users: dict[str, int], body: dict[str, object], status: int, error: str
) -> None:
    channel = f"inbox-{users['owner']}"
    with client_as(server, "owner") as client:
        headers = {"X-CSRFToken": client.cookies["csrftoken"], **body.pop("headers", {})}  # type: ignore[dict-item]
        response = client.post(f"/events/{channel}/publish", headers=headers, **body)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error
    assert "Traceback" not in server.log()


def test_publishing_to_an_undeclared_channel_is_a_json_404(server: Server) -> None:
    with client_as(server, "writer") as client:
        response = post(client, "news", json={"event": "chat_message", "data": {"text": "hi"}})
    assert response.status_code == 404
    assert response.json() == {
        "error": "unknown_channel",
        "detail": "No such channel: news",
        "channels": ["news"],
    }
    assert "Traceback" not in server.log()
