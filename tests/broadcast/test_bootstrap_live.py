"""The demo's channel page (`/channel/`) in Debian's Chromium against a real Daphne process: the
messages rendered with the page, then its first connection from their position, so a message
published between the render and the connection is shown, once."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from httpx_sse import connect_sse

from ..browser import keep_screenshot
from ..servers import Server, daphne

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

from playwright.sync_api import expect

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def channel_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with daphne(tmp_path_factory.mktemp("channel-page")) as server:
        yield server


@pytest.fixture
def page(browser: Browser, channel_server: Server) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
    log = channel_server.log()
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def publisher(channel_server: Server) -> Iterator[httpx.Client]:
    """A client with the CSRF cookie the live page sets, as a visitor publishing from it."""
    with httpx.Client(base_url=channel_server.url, timeout=10) as client:
        client.get("/").raise_for_status()
        yield client


def publish(client: httpx.Client, text: str) -> int:
    headers = {"X-CSRFToken": client.cookies["csrftoken"]}
    response = client.post("/events/demo/publish", json={"data": {"text": text}}, headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def items(page: Page, text: str) -> list[str]:
    """The `data-id` of each message in the page whose text is `text`."""
    exact = re.compile(f"^{re.escape(text)}$")
    found = page.locator("#messages li").filter(has=page.locator(".text", has_text=exact))
    return [found.nth(n).get_attribute("data-id") or "" for n in range(found.count())]


def test_a_message_published_between_the_render_and_the_connection_is_shown_once(
    page: Page, channel_server: Server, publisher: httpx.Client, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    rendered = publish(publisher, f"rendered {tag}")
    between: list[int] = []

    def publish_then_connect(route: Route) -> None:
        # The page is rendered and its EventSource is on its way: publish now, then let it connect.
        between.append(publish(publisher, f"between {tag}"))
        route.continue_()

    page.route(re.compile(r"/events/demo/\?lastEventId="), publish_then_connect)
    page.goto(f"{channel_server.url}/channel/")
    expect(page.locator("#channel-state")).to_have_text("open", timeout=10_000)
    assert (
        page.locator("#messages").get_attribute("data-stream-url") == f"/events/demo/?lastEventId={rendered}"
    )

    expect(page.locator("#messages li.live")).to_have_count(1, timeout=10_000)
    assert items(page, f"between {tag}") == [f"demo:{between[0]}"]
    after = publish(publisher, f"after {tag}")
    expect(page.locator("#messages li.live")).to_have_count(2, timeout=10_000)
    assert items(page, f"after {tag}") == [f"demo:{after}"]
    assert items(page, f"between {tag}") == [f"demo:{between[0]}"]
    assert items(page, f"rendered {tag}") == [f"demo:{rendered}"]  # rendered, not sent again
    keep_screenshot(page, tmp_path, "channel-page.png")


def test_without_the_position_that_message_would_be_lost(
    channel_server: Server, publisher: httpx.Client
) -> None:
    """The contrast: a first connection with no position starts from the channel's end."""
    tag = uuid.uuid4().hex[:8]
    publish(publisher, f"missed {tag}")
    with (
        httpx.Client(base_url=channel_server.url, timeout=10) as client,
        connect_sse(client, "GET", "/events/demo/") as source,
    ):
        events = source.iter_sse()
        opened = next(events)
        after = publish(publisher, f"after {tag}")
        following = next(events)
    assert opened.event == "stream-open"
    assert (following.event, following.id) == ("chat_message", f"demo:{after}")
    assert json.loads(following.data)["text"] == f"after {tag}"
