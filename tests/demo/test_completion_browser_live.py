"""A stream that completes, in Debian's Chromium against a real Daphne: the demo's /completion/
page reads /sse2 with a limit twice. Its listening EventSource closes itself on `completed`: one
request. Its plain EventSource, which knows nothing of `completed`, reconnects once when the body
ends, is answered 204 and is closed by the browser for good: two requests, counted in the
server's access log (the test's own server: the page shows the plain message it sends)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..browser import DOCS, keep_screenshot
from ..servers import Server, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

from playwright.sync_api import expect

pytestmark = pytest.mark.live

CLOSED = 2  # EventSource.CLOSED
PAGE = DOCS / "browser" / "completion.md"


def statuses(server: Server, message: str) -> list[str]:
    line = re.compile(rf'"GET /sse2\?message={re.escape(message)}&[^"]*" (\d{{3}}) ')
    return line.findall(server.log())


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def test_an_event_source_on_a_completed_stream_is_not_reopened(
    page: Page, fresh_daphne: Server, tmp_path: Path
) -> None:
    server, token = fresh_daphne, "hello"
    page.goto(f"{server.url}/completion/?message={token}")

    # Each ends CLOSED: by the page on `completed`, or by the browser on the 204.
    page.wait_for_function(
        f"() => ['listening', 'plain'].every((name) => window.completionDemo[name].readyState === {CLOSED})",
        timeout=20_000,
    )
    expect(page.locator("#listening .state")).to_have_text("completed: closed by the page")
    expect(page.locator("#plain .state")).to_have_text(
        "closed: the server answered 204, nothing more to send"
    )
    for section in ("listening", "plain"):
        expect(page.locator(f"#{section} li")).to_have_count(5)
        expect(page.locator(f"#{section} li").last).to_have_text(f"echo #4 {token}-{section}")
    # A closed EventSource never connects again: these are all the requests there will be.
    wait_for(lambda: len(statuses(server, f"{token}-plain")) >= 2, what="the plain source's requests")
    assert statuses(server, f"{token}-listening") == ["200"]
    assert statuses(server, f"{token}-plain") == ["200", "204"]
    keep_screenshot(page, tmp_path, "browser-completion.png")
    assert "Traceback" not in server.log()


def test_the_docs_snippet_closes_its_event_source_on_completed(page: Page, fresh_daphne: Server) -> None:
    (script,) = re.findall(r"```html\n<script>\n(.*?)</script>\n```", PAGE.read_text(), re.S)
    logged: list[str] = []
    page.on("console", lambda message: logged.append(message.text))
    page.goto(f"{fresh_daphne.url}/completion/?message=page")  # an origin to run it on

    page.evaluate(f"() => {{ {script}; window.__docs = source; }}")

    page.wait_for_function(f"() => window.__docs.readyState === {CLOSED}", timeout=20_000)
    assert [text for text in logged if text.endswith(" hello")] == [f"{n} hello" for n in range(5)]
    wait_for(lambda: statuses(fresh_daphne, "hello"), what="the snippet's request")
    assert statuses(fresh_daphne, "hello") == ["200"]  # closed by the page: no reconnect
