"""Stream tickets against a real server (issue 31, item 5): a page on one loopback origin
(http://localhost:PORT) reads a channel from another (http://127.0.0.1:PORT) with a ticket, in
Chromium; the refusals (expired, another channel, after a terminate) and what is kept of a ticket
(nothing: `[redacted]` in session rows and the access log), read with httpx."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from httpx_sse import connect_sse

from ..browser import keep_screenshot
from ..servers import Server, admin_login, daphne_command, free_port, migrate, run_python, running, server_env
from ..servers import wait_for as poll
from ..services import session_rows

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.live

USERS = """
from django.contrib.auth.models import User
for name in ("owner", "other"):
    print("user", name, User.objects.create_user(name, password=f"pw-{name}-6610", is_staff=True).pk)
print("user root", User.objects.create_superuser("root", password="pw-root-6610").pk)
"""
CHANGELIST = "/admin/echo_sessions/streamsession/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server; its pages on http://localhost:PORT are the one origin STREAM_ORIGINS allows."""
    folder = tmp_path_factory.mktemp("tickets")
    port = free_port()
    allowed = json.dumps({"STREAM_ORIGINS": [f"http://localhost:{port}"]})
    env = server_env(folder / "db.sqlite3", settings="tests.tickets.settings", ECHO_TEST_SETTINGS=allowed)
    migrate(env)
    with running(daphne_command("127.0.0.1", port), folder, host="127.0.0.1", port=port, env=env) as served:
        yield served


@pytest.fixture(scope="module")
def users(server: Server) -> dict[str, int]:
    out = run_python("manage.py", "shell", "-c", USERS, env=server.env)
    rows = (line.split() for line in out.splitlines() if line.startswith("user "))
    return {name: int(pk) for _, name, pk in rows}


@contextmanager
def signed_in(server: Server, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        admin_login(client, name, f"pw-{name}-6610")
        client.get("/admin/")  # the CSRF cookie (login rotates it)
        yield client


def issue(client: httpx.Client, channel: str, lifetime: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"channels": [channel], **({"lifetime": lifetime} if lifetime else {})}
    response = client.post(
        "/stream-tickets/", json=body, headers={"X-CSRFToken": client.cookies["csrftoken"]}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def issue_path(client: httpx.Client, path: str) -> dict[str, Any]:
    csrf = {"X-CSRFToken": client.cookies["csrftoken"]}
    response = client.post("/stream-tickets/", json={"path": path}, headers=csrf)
    assert response.status_code == 200, response.text
    return dict(response.json())


def publish(client: httpx.Client, channel: str, text: str) -> None:
    response = client.post(
        f"/events/{channel}/publish",
        json={"event": "chat_message", "data": {"text": text}},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    assert response.status_code == 200, response.text


def opening(server: Server, url: str) -> tuple[int, dict[str, Any]]:
    """The status a stream's URL answers without a session, and its JSON body when refused."""
    with httpx.Client(base_url=server.url, timeout=10) as client, client.stream("GET", url) as response:
        return response.status_code, ({} if response.status_code == 200 else json.loads(response.read()))


def refused_with(server: Server, url: str, error: str) -> bool:
    status, body = opening(server, url)
    return status == 403 and body.get("error") == error


def live_session_id(server: Server, path: str) -> str:
    rows = poll(
        lambda: session_rows(server, "path = ? AND ended_at IS NULL", (path,)),
        what=f"a live session of {path}",
    )
    return str(uuid.UUID(rows[0]["id"]))


def terminate(root: httpx.Client, session_id: str) -> None:
    response = root.post(
        CHANGELIST,
        data={
            "csrfmiddlewaretoken": root.cookies["csrftoken"],
            "action": "terminate_sessions",
            "select_across": "0",
            "index": "0",
            "_selected_action": [session_id],
        },
    )
    assert response.status_code == 302, response.text


def test_a_ticket_opens_its_channel_without_a_session_and_for_no_other(
    server: Server, users: dict[str, int]
) -> None:
    mine, theirs = f"user-{users['owner']}", f"user-{users['other']}"
    with signed_in(server, "owner") as owner:
        ticket = issue(owner, mine)
        assert ticket["url"].startswith(f"/events/{mine}/?ticket=")
        with httpx.Client(base_url=server.url, timeout=10) as anonymous:
            assert anonymous.get(f"/events/{mine}/").status_code == 403  # the channel's read rule
            with connect_sse(anonymous, "GET", ticket["url"]) as stream:
                assert stream.response.status_code == 200
                events = stream.iter_sse()
                assert next(events).event == "stream-open"
                publish(owner, mine, "for the owner")
                typed = next(events)
                assert (typed.event, typed.json()["text"]) == ("chat_message", "for the owner")
        value = ticket["ticket"]
        for path in (f"/events/{theirs}/", f"/events/{mine},demo/", "/sse2"):
            assert refused_with(server, f"{path}?{httpx.QueryParams(ticket=value)}", "ticket_wrong_stream")
        assert refused_with(server, ticket["url"][:-3] + "abc", "invalid_ticket")


def test_an_expired_ticket_is_refused(server: Server, users: dict[str, int]) -> None:
    with signed_in(server, "owner") as owner:
        ticket = issue(owner, f"user-{users['owner']}", lifetime=1)
    poll(lambda: refused_with(server, ticket["url"], "ticket_expired"), what="the ticket to expire")


def test_after_a_terminate_the_ticket_no_longer_opens_a_stream(server: Server, users: dict[str, int]) -> None:
    channel = f"user-{users['owner']}"
    with signed_in(server, "owner") as owner, signed_in(server, "root") as root:
        ticket = issue(owner, channel)
        with (
            httpx.Client(base_url=server.url, timeout=10) as anonymous,
            connect_sse(anonymous, "GET", ticket["url"]) as stream,
        ):
            events = stream.iter_sse()
            assert next(events).event == "stream-open"
            terminate(root, live_session_id(server, f"/events/{channel}/"))
            assert [event.event for event in events] == ["terminated"]  # and the stream ends
        poll(lambda: refused_with(server, ticket["url"], "ticket_revoked"), what="the ticket's revocation")
        assert opening(server, issue(owner, channel)["url"])[0] == 200  # a new ticket is another ticket


def assert_kept_nowhere(server: Server, values: list[str]) -> None:
    rows = session_rows(server, "path LIKE ?", ("/events/user-%",))
    assert rows
    assert all("ticket=[redacted]" in row["query"] for row in rows if "ticket" in row["query"])
    assert "GET /events/user-" in server.log()
    assert "ticket=[redacted]" in server.log()
    for value in values:
        assert not [row for row in rows if value in row["query"] or value in row["path"]]
        assert value not in server.log()


def test_a_ticket_is_in_no_session_row_and_no_access_log_line(server: Server, users: dict[str, int]) -> None:
    with signed_in(server, "owner") as owner:
        ticket = issue(owner, f"user-{users['owner']}")
    assert opening(server, ticket["url"])[0] == 200
    poll(lambda: session_rows(server, "query LIKE ?", ("ticket=%",)), what="the ticket's session row")
    assert_kept_nowhere(server, [ticket["ticket"]])


def page_state(page: Page, text: str) -> None:
    page.wait_for_function("text => document.getElementById('state').textContent === text", arg=text)


def test_a_page_on_another_origin_reads_a_channel_with_a_ticket_in_chromium(
    server: Server, users: dict[str, int], browser: Browser, tmp_path: Path
) -> None:
    page_origin = f"http://localhost:{server.port}"
    channel = f"user-{users['owner']}"
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    try:
        page.goto(f"{page_origin}/admin/login/?next=/tickets%3Fchannel%3D{channel}")
        page.fill("#id_username", "owner")
        page.fill("#id_password", "pw-owner-6610")
        page.click("input[type=submit]")
        page_state(page, "open")
        assert page.evaluate("location.origin") == page_origin
        assert page.evaluate("demo.config.origin") == server.url  # http://127.0.0.1:PORT
        with signed_in(server, "owner") as owner:
            publish(owner, channel, "typed, from another origin")
        page.wait_for_selector("#log li:has-text('chat_message: typed, from another origin')")
        keep_screenshot(page, tmp_path, "tickets-page.png")
        shown = page.inner_text("body")
        value = page.evaluate("new URL(demo.config.url, location.href).searchParams.get('ticket')")
        assert value not in shown  # the page shows the stream's URL without its ticket

        # Another user's channel with this ticket: a 403, which EventSource does not retry.
        page.evaluate(
            f"demo.openStream('/events/user-{users['other']}/?ticket=' + encodeURIComponent('{value}'))"
        )
        page_state(page, "refused: ask for a new ticket")

        short = page.evaluate(f"demo.newTicket('{channel}', 1)")
        poll(lambda: refused_with(server, short["url"], "ticket_expired"), what="the short ticket to expire")
        page.evaluate(f"demo.openStream('{short['url']}')")
        page_state(page, "refused: ask for a new ticket")

        page.evaluate("demo.openStream(demo.config.url)")
        page_state(page, "open")
        with signed_in(server, "root") as root:
            terminate(root, live_session_id(server, f"/events/{channel}/"))
        page_state(page, "terminated by an operator")
        poll(
            lambda: refused_with(server, page.evaluate("demo.config.url"), "ticket_revoked"),
            what="revocation",
        )
        page.evaluate("demo.openStream(demo.config.url)")
        page_state(page, "refused: ask for a new ticket")
        assert_kept_nowhere(server, [value, short["ticket"]])
        page.goto(f"{page_origin}/tickets")  # the demo's own channel, by default
        page_state(page, "open")
        assert page.evaluate("demo.config.channel") == "demo"
        assert not re.search(r'" 5\d\d ', server.log()), server.log()
    finally:
        page.close()


def test_a_reconnect_from_the_other_origin_reuses_the_ticket(
    server: Server, users: dict[str, int], browser: Browser
) -> None:
    """A stream that ends is opened again by the browser with the same URL and `Last-Event-ID`
    (no preflight: the ticket is a query parameter): a one-use ticket would be refused here."""
    page = browser.new_page()
    try:
        page.goto(f"http://localhost:{server.port}/admin/login/?next=/tickets")
        page.fill("#id_username", "owner")
        page.fill("#id_password", "pw-owner-6610")
        page.click("input[type=submit]")
        page_state(page, "open")
        with signed_in(server, "owner") as owner:
            url = issue_path(owner, "/sse2")["url"] + "&message=again&limit=2&interval=0"
        page.evaluate("url => { window.reopened = new EventSource(demo.config.origin + url) }", url)

        def served() -> list[str]:
            return re.findall(r'"GET /sse2\?ticket=\[redacted\]&message=again[^"]*" (\d+)', server.log())

        statuses = poll(lambda: len(served()) >= 2 and served(), what="the browser's reconnect")
        assert all(status.startswith("2") for status in statuses), statuses
        assert "OPTIONS /sse2" not in server.log()
        page.evaluate("window.reopened.close()")
    finally:
        page.close()
