"""Safe to expose: publishing is a permission, every input has a bound and a JSON 4xx, and the
streams one process or one client address may hold are capped, answered at once."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from ..servers import Server, admin_login, daphne, run_python, wait_for

pytestmark = pytest.mark.live

GRANT = """
from django.contrib.auth.models import Permission, User
user = User.objects.create_user("{name}", password="pw-{name}-3391", is_staff=True)
if {grant}:
    permission = Permission.objects.get(codename="publish", content_type__app_label="echo_broadcast")
    user.user_permissions.add(permission)
"""


@pytest.fixture(scope="module")
def product_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A Daphne with the product's channel rules (only `demo` open to anonymous publishers)."""
    with daphne(tmp_path_factory.mktemp("access"), settings="tests.settings_product_access") as server:
        for name, grant in (("writer", True), ("reader", False)):
            run_python("manage.py", "shell", "-c", GRANT.format(name=name, grant=grant), env=server.env)
        yield server


@contextmanager
def client_as(server: Server, name: str | None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield _logged_in(client, name)


def _logged_in(client: httpx.Client, name: str | None) -> httpx.Client:
    if name is not None:
        admin_login(client, name, f"pw-{name}-3391")
    client.get("/")  # the CSRF cookie (login rotates it)
    return client


def publish(client: httpx.Client, channel: str) -> httpx.Response:
    return client.post(
        f"/events/{channel}/publish",
        data={"text": "hi"},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )


@pytest.mark.parametrize(
    ("who", "channel", "status"),
    [
        (None, "news", 403),
        ("reader", "news", 403),
        ("writer", "news", 200),
        (None, "demo", 200),
    ],
)
def test_publishing_over_http_is_a_permission(
    product_server: Server, who: str | None, channel: str, status: int
) -> None:
    with client_as(product_server, who) as client:
        response = publish(client, channel)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json() == {
            "error": "forbidden",
            "detail": f"You may not publish to channel: {channel}",
        }
    else:
        assert response.json()["channel"] == channel


def test_a_5000_digit_last_event_id_is_a_json_400_with_one_bounded_message(
    live_server_process: Server,
) -> None:
    for url in ("/events/demo/", "/sse2?message=x", "/sse3?message=x"):
        for raw in ("demo:" + "9" * 5000, "9" * 5000):
            response = httpx.get(
                f"{live_server_process.url}{url}", headers={"Last-Event-ID": raw}, timeout=10
            )
            if url == "/sse3?message=x" and raw.isdigit():
                continue  # a plain number is ignored there (the stream starts over)
            assert response.status_code == 400, (url, response.text[:200])
            body = response.json()
            assert body["error"] == "invalid_last_event_id"
            assert body["parameter"] == "Last-Event-ID"
            # The same shape everywhere: what was given, cut short, and what the stream expects.
            assert body["detail"].startswith(f"Last-Event-ID {raw[:80]!r}"[:-1] + "... (5"), body["detail"]
            assert "is not an id of this stream: expected " in body["detail"]
            assert "at most 18 digits" in body["detail"]
            assert len(body["detail"]) < 300
    response = httpx.get(
        f"{live_server_process.url}/events/demo/", params={"lastEventId": "9" * 5000}, timeout=10
    )
    assert response.status_code == 400
    response = httpx.get(
        f"{live_server_process.url}/sse2", params={"message": "x", "lastEventId": "²"}, timeout=10
    )
    assert response.status_code == 400


def test_a_subscription_names_at_most_32_channels(live_server_process: Server) -> None:
    many = ",".join(f"c{n}" for n in range(33))
    response = httpx.get(f"{live_server_process.url}/events/{many}/", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "too_many_channels"
    most = ",".join(f"c{n}" for n in range(32))
    with (
        httpx.Client(base_url=live_server_process.url, timeout=10) as client,
        connect_sse(client, "GET", f"/events/{most}/") as source,
    ):
        assert next(source.iter_sse()).event == "stream-open"


def _open(server: Server, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(f"GET /sse2?message={token}&interval=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    return sock


@pytest.mark.parametrize(
    ("limits", "status", "error"),
    [
        ('{"MAX_STREAMS_PER_CLIENT": 3}', 429, "too_many_streams_from_client"),
        ('{"MAX_STREAMS": 3}', 503, "too_many_streams"),
    ],
)
def test_past_a_stream_cap_a_request_is_refused_at_once_with_retry_after(
    tmp_path: Path, limits: str, status: int, error: str
) -> None:
    with daphne(tmp_path, ECHO_TEST_SETTINGS=limits) as server, ExitStack() as held:
        for n in range(3):
            held.enter_context(closing(_open(server, f"held{n}")))
        refused = httpx.get(f"{server.url}/sse2", params={"message": "one too many"}, timeout=5)
        assert refused.status_code == status
        assert refused.headers["retry-after"] == "5"
        assert refused.json()["error"] == error
        # Nothing else is refused meanwhile: a page, and HEAD of a stream, answer as usual.
        assert httpx.get(f"{server.url}/", timeout=5).status_code == 200
        assert httpx.head(f"{server.url}/sse2", params={"message": "x"}, timeout=5).status_code == 200
        held.close()  # the three leave: a new stream is admitted again

        def admitted() -> bool:
            with httpx.stream(
                "GET", f"{server.url}/sse2", params={"message": "again", "limit": 1}, timeout=5
            ) as r:
                return r.status_code == 200

        wait_for(admitted, what="a stream to be admitted once the others closed")


def test_connections_that_never_finish_their_headers_do_not_stop_others(live_server_process: Server) -> None:
    with ExitStack() as stack:
        for _ in range(300):
            sock = stack.enter_context(
                closing(socket.create_connection(("127.0.0.1", live_server_process.port)))
            )
            sock.sendall(b"GET /sse2?message=x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        with (
            httpx.Client(base_url=live_server_process.url, timeout=2.0) as client,
            connect_sse(
                client, "GET", "/sse2", params={"message": uuid.uuid4().hex, "interval": 0, "limit": 3}
            ) as source,
        ):
            assert [event.event for event in source.iter_sse()] == ["echo"] * 3 + ["completed"]
