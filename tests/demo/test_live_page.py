"""The live page (`/`) in a real browser: Debian's Chromium, headless, driven by Playwright.

The page opens two EventSources (`/sse3` and the `demo` broadcast channel) and posts its form to
the publish endpoint with the CSRF token Django put in the page. Nothing here is simulated: the
browser talks to a real Daphne process over loopback.

Playwright is used only as a driver (no browser download): it launches the system's Chromium.
A missing package or browser skips these tests, or fails them when ECHO_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..browser import keep_screenshot
from ..servers import Server, daphne

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Locator, Page

from playwright.sync_api import expect

pytestmark = pytest.mark.live

# Records every EventSource's `stream-open` event (the page itself does not show it): once the
# broadcast stream has sent it, the server has registered the subscriber, so a message published
# after that cannot be missed. It wraps the browser's own EventSource; nothing is replaced.
RECORD_STREAM_OPEN = """
(() => {
  const Native = window.EventSource;
  window.__streamsOpen = [];
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      this.addEventListener("stream-open", () => window.__streamsOpen.push(String(url)));
    }
  };
})();
"""
PUBLISH_BUDGET = 1.0  # seconds from the submit to the message in #channel-log


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with daphne(tmp_path_factory.mktemp("live-page")) as server:
        yield server


@pytest.fixture
def live_page(browser: Browser, page_server: Server) -> Iterator[Page]:
    """The page, loaded, with both streams open and the broadcast subscriber registered."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(RECORD_STREAM_OPEN)
        page.goto(f"{page_server.url}/")
        expect(page.locator("#channel-state")).to_have_text("open", timeout=10_000)
        page.wait_for_function(
            "() => window.__streamsOpen.some((url) => url.includes('/events/demo/'))", timeout=10_000
        )
        yield page
    finally:
        context.close()
    log = page_server.log()
    assert "Traceback" not in log, log


def _channel_text(page: Page, text: str) -> Locator:
    """The `.text` spans of #channel-log whose whole text is `text`."""
    return page.locator("#channel-log .text").filter(has_text=re.compile(f"^{re.escape(text)}$"))


def _publish_and_wait(page: Page, text: str) -> float:
    """Type `text`, submit the form, wait (at most the budget, from the submit) for it in the log."""
    page.fill("#publish-text", text)
    submitted = time.monotonic()
    page.click("#publish-form button[type=submit]")
    left = PUBLISH_BUDGET - (time.monotonic() - submitted)
    # A timeout of 0 would mean "no timeout" to Playwright: never pass less than 1 ms.
    expect(_channel_text(page, text)).to_have_count(1, timeout=max(1.0, left * 1000))
    return time.monotonic() - submitted


def test_live_page_shows_echo_and_reverse_echo_events_from_sse3(live_page: Page) -> None:
    expect(live_page.locator("#echo-state")).to_have_text("open", timeout=10_000)
    labels = live_page.locator("#echo-log strong")
    expect(labels.filter(has_text=re.compile(r"^echo #\d+"))).not_to_have_count(0, timeout=10_000)
    expect(labels.filter(has_text=re.compile(r"^reverse_echo #\d+"))).not_to_have_count(0, timeout=10_000)
    texts = live_page.locator("#echo-log .text").all_text_contents()
    assert "hello" in texts
    assert "olleh" in texts


def test_live_page_shows_a_published_message_within_a_second_of_the_submit(
    live_page: Page, tmp_path: Path
) -> None:
    text = f"hello from the browser {uuid.uuid4().hex[:8]}"
    _publish_and_wait(live_page, text)
    expect(live_page.locator("#publish-text")).to_have_value("")  # the form says the post succeeded
    exact = re.compile(f"^{re.escape(text)}$")
    item = live_page.locator("#channel-log li").filter(has=live_page.locator(".text", has_text=exact))
    label = item.locator("strong")
    expect(label).to_have_text("message ")
    # The picture for the docs, once both streams show something.
    reverse = live_page.locator("#echo-log strong").filter(has_text=re.compile(r"^reverse_echo #\d+"))
    expect(reverse).not_to_have_count(0, timeout=10_000)
    keep_screenshot(live_page, tmp_path, "live-page.png")


def test_live_page_renders_a_message_with_markup_as_text(live_page: Page) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    live_page.on("dialog", on_dialog)
    text = f"<img src=x onerror=alert(1)><b>bold</b> {uuid.uuid4().hex[:8]}"
    _publish_and_wait(live_page, text)
    span = _channel_text(live_page, text)
    assert span.evaluate("(element) => element.textContent") == text
    assert span.evaluate("(element) => element.children.length") == 0
    assert live_page.locator("#channel-log b, #channel-log img").count() == 0
    assert live_page.evaluate("() => document.images.length") == 0
    assert dialogs == []


def test_live_page_publish_form_carries_the_csrf_token(live_page: Page, page_server: Server) -> None:
    """Without the token from the page, Django refuses the post: the form works because of it."""
    token = live_page.locator("#publish-form input[name=csrfmiddlewaretoken]").input_value()
    assert token
    status = live_page.evaluate(
        """async (url) => {
            const body = new FormData();
            body.append("text", "no token");
            return (await fetch(url, { method: "POST", body })).status;
        }""",
        f"{page_server.url}/events/demo/publish",
    )
    assert status == 403
