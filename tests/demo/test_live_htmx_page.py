"""The live page's htmx variant (`/htmx/`) in Debian's Chromium against a real Daphne process:
htmx and its SSE extension, served from django-htmx's static files, swap in `echo_card`
fragments rendered by the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..browser import keep_screenshot
from ..servers import Server, daphne, run_python, server_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

from playwright.sync_api import expect

pytestmark = pytest.mark.live

HOSTILE = "<img src=x onerror=alert(1)><b>bold</b>"


@pytest.fixture(scope="module", params=["debug", "production"])
def htmx_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """DEBUG on (static files from the apps, as `make run` serves them) and off (collected first)."""
    folder = tmp_path_factory.mktemp(f"htmx-{request.param}")
    extra = {"DJANGO_DEBUG": "1" if request.param == "debug" else "0"}
    if request.param == "production":
        extra["ECHO_STATIC_ROOT"] = str(folder / "static")
        env = server_env(folder / "db.sqlite3", **extra)
        run_python("manage.py", "collectstatic", "--noinput", "-v0", env=env)
    with daphne(folder, **extra) as server:
        yield server


@pytest.fixture
def htmx_page(browser: Browser, htmx_server: Server) -> Iterator[tuple[Page, list[str]]]:
    """The page with `?message=` markup, once its first card has swapped in; and its dialogs."""
    context = browser.new_context()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    try:
        page = context.new_page()
        page.on("dialog", on_dialog)
        page.goto(f"{htmx_server.url}/htmx/?message={HOSTILE.replace('&', '%26')}")
        expect(page.locator("#card article.echo-card")).to_have_count(1, timeout=10_000)
        yield page, dialogs
    finally:
        context.close()
    log = htmx_server.log()
    assert "Traceback" not in log, log


def test_htmx_and_its_sse_extension_come_from_the_pinned_package(htmx_page: tuple[Page, list[str]]) -> None:
    page, _ = htmx_page
    assert page.evaluate("() => window.htmx.version") == "2.0.10"
    sources = page.evaluate("() => [...document.scripts].map((script) => script.getAttribute('src'))")
    assert "/static/django_htmx/htmx-2.min.js" in sources
    assert "/static/django_htmx/ext/hx-sse-2.min.js" in sources


def test_an_echo_card_fragment_swaps_in_whole(htmx_page: tuple[Page, list[str]]) -> None:
    page, _ = htmx_page
    article = page.locator("#card article.echo-card")
    # Every line of the fragment is there: the first (the article) to the last (its time).
    tags = article.evaluate("(card) => [...card.children].map((child) => child.className || child.tagName)")
    assert tags == ["H3", "message", "reversed", "sent"]
    expect(article.locator("h3")).to_have_text(f"echo #{article.get_attribute('data-n')}")
    assert article.locator(".sent time").get_attribute("datetime")
    # The lines were joined again with LF by the browser, as the template wrote them.
    inner = page.locator("#card").evaluate("(element) => element.innerHTML")
    assert inner.startswith('<article class="echo-card" data-n="')
    assert "\n  <h3>echo #" in inner
    # The next card replaces it (sse-swap's innerHTML): one card at a time, counting up.
    first = int(article.get_attribute("data-n") or "-1")
    expect(article).not_to_have_attribute("data-n", str(first), timeout=10_000)
    assert int(article.get_attribute("data-n") or "-1") > first


def test_markup_in_a_fragment_s_context_arrives_as_text(
    htmx_page: tuple[Page, list[str]], htmx_server: Server, tmp_path: Path
) -> None:
    page, dialogs = htmx_page
    message = page.locator("#card .message")
    expect(message).to_have_text(HOSTILE)
    assert message.evaluate("(element) => element.children.length") == 0
    expect(page.locator("#card .reversed")).to_have_text(HOSTILE[::-1])
    assert page.evaluate("() => document.images.length") == 0
    assert dialogs == []
    if htmx_server.env.get("DJANGO_DEBUG") == "1":  # the docs' picture, once
        keep_screenshot(page, tmp_path, "htmx-page.png")
