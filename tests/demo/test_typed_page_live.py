"""The typed module's page (`/typed/`) in Debian's Chromium against a real Daphne process:
`TypedEventSource` from echo/sse/static/echo/eventsource.js reading `/sse2` and the `demo` channel.

Typed events arrive parsed; a terminate from the admin stops the page's stream (the EventSource is
closed, so the browser cannot reopen it) and the page says why; a reload resumes after the id kept
in `sessionStorage`; a channel that cannot resume from it calls `onReset`. How often a stream was
opened is counted on the server: every stream is a session row.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import expect

from ..browser import keep_screenshot
from ..servers import Server, daphne, wait_for
from ..services import session_rows
from ..sessions.test_terminate_live import create_superuser, log_in, terminate_from_admin

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.live

CLOSED = 2  # EventSource.CLOSED: a closed EventSource never reconnects


@pytest.fixture(scope="module")
def typed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with daphne(tmp_path_factory.mktemp("typed-page")) as server:
        create_superuser(server)
        yield server


@pytest.fixture
def page(browser: Browser, typed_server: Server) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
    log = typed_server.log()
    assert "Traceback" not in log, log


def streams(server: Server, message: str) -> list[dict[str, Any]]:
    """The `/sse2` streams opened for `message` (each is recorded)."""
    return session_rows(server, "path = ? AND query LIKE ?", ("/sse2", f"%message={message}%"))


def opened(server: Server, message: str) -> int:
    return len(streams(server, message))


def requests(server: Server, message: str) -> list[tuple[str, str]]:
    """The `/sse2` requests for `message` in the server's access log: what followed the page's
    own query, and the status."""
    line = re.compile(rf'"GET /sse2\?message={re.escape(message)}&interval=0\.0&limit=3(\S*)" (\d+) ')
    return line.findall(server.log())


def test_typed_events_arrive_parsed_from_the_stream_and_the_channel(
    page: Page, typed_server: Server, tmp_path: Path
) -> None:
    message = f"typed-{uuid.uuid4().hex[:8]}"
    page.goto(f"{typed_server.url}/typed/?message={message}&interval=0.2")

    expect(page.locator("#echo-log strong").first).to_have_text(re.compile(r"^echo #\d+ $"), timeout=10_000)
    assert page.locator("#echo-log .text").first.text_content() == message
    expect(page.locator("#channel-state")).to_have_text("open", timeout=10_000)
    page.wait_for_function("() => window.typedPage.channel.lastEventId.startsWith('demo:')", timeout=10_000)
    text = f"hello, typed {uuid.uuid4().hex[:8]}"
    status = page.evaluate(
        """async (text) => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const body = new FormData();
            body.append("text", text);
            const headers = { "X-CSRFToken": token };
            return (await fetch("/events/demo/publish", { method: "POST", body, headers })).status;
        }""",
        text,
    )
    assert status == 200
    expect(page.locator("#channel-log li").first).to_have_text(f"message {text}", timeout=10_000)
    expect(page.locator("#echo-log li")).not_to_have_count(1, timeout=10_000)  # a second echo too
    keep_screenshot(page, tmp_path, "typed-page.png")


def test_a_terminate_from_the_admin_stops_the_pages_stream_and_the_page_says_why(
    page: Page, typed_server: Server
) -> None:
    message = f"stop-{uuid.uuid4().hex[:8]}"
    page.goto(f"{typed_server.url}/typed/?message={message}&interval=0.1")
    expect(page.locator("#echo-log li")).not_to_have_count(0, timeout=10_000)
    session = wait_for(lambda: next(iter(streams(typed_server, message)), None), what="the session row")

    with httpx.Client(base_url=typed_server.url, timeout=10) as admin:
        shown = terminate_from_admin(admin, log_in(admin), session["id"])
    assert "1" in shown

    state = page.locator("#echo-state")
    expect(state).to_have_text("stopped: terminated (an operator ended this stream)", timeout=10_000)
    assert page.evaluate("() => window.typedPage.echo.readyState") == CLOSED
    assert page.evaluate("() => window.typedPage.echo.stopped") == {
        "reason": "terminated",
        "data": {"reason": "terminated"},
    }
    # The channel's stream is another session: it goes on.
    assert page.evaluate("() => window.typedPage.channel.readyState") != CLOSED
    assert opened(typed_server, message) == 1


def test_a_reload_resumes_after_the_last_id_the_page_kept(page: Page, typed_server: Server) -> None:
    message = f"resume-{uuid.uuid4().hex[:8]}"
    page.goto(f"{typed_server.url}/typed/?message={message}&interval=0.05")
    third = page.locator("#echo-log strong").filter(has_text=re.compile(r"^echo #3 $"))
    expect(third).to_have_count(1, timeout=10_000)
    # Closed by the page, so that no event comes between the id read here and the reload.
    kept = page.evaluate("() => { window.typedPage.echo.close(); return window.typedPage.echo.lastEventId; }")
    assert int(kept) >= 3

    page.reload()

    oldest = page.locator("#echo-log li").last
    expect(oldest.locator("strong")).to_have_text(f"echo #{int(kept) + 1} ", timeout=10_000)
    assert page.evaluate("() => window.typedPage.echo.url").endswith(f"&lastEventId={kept}")
    wait_for(lambda: opened(typed_server, message) == 2, what="the second stream's row")


def test_a_channel_that_cannot_resume_from_the_kept_id_calls_on_reset(
    page: Page, typed_server: Server
) -> None:
    page.goto(f"{typed_server.url}/typed/?message=reset")
    expect(page.locator("#channel-state")).to_have_text("open", timeout=10_000)
    # An id far ahead of the channel, as after its storage was emptied.
    page.evaluate(
        """() => {
            const key = Object.keys(sessionStorage).find((k) => k.includes("/events/demo/"))
                ?? "echo-sse:last-event-id:" + location.origin + "/events/demo/?";
            sessionStorage.setItem(key, "demo:999999");
        }"""
    )

    page.reload()

    reset = page.locator("#channel-log li").filter(has_text="reset")
    expect(reset).to_have_text("reset events may be missing on demo", timeout=10_000)
    expect(page.locator("#channel-state")).to_have_text("open")


def test_a_completed_stream_is_not_reopened_and_a_reload_gets_nothing_more(
    page: Page, typed_server: Server
) -> None:
    message = f"done-{uuid.uuid4().hex[:8]}"
    page.goto(f"{typed_server.url}/typed/?message={message}&limit=3&interval=0")

    state = page.locator("#echo-state")
    expect(state).to_have_text("stopped: completed (the stream sent everything it had)", timeout=10_000)
    assert page.locator("#echo-log strong").all_text_contents() == ["echo #2 ", "echo #1 ", "echo #0 "]
    assert page.evaluate("() => window.typedPage.echo.readyState") == CLOSED
    wait_for(lambda: opened(typed_server, message) == 1, what="the stream's row")
    wait_for(lambda: requests(typed_server, message) == [("", "200")], what="the access log's line")

    # The kept id is the last one: the server answers 204, which ends an EventSource for good.
    page.reload()

    expect(state).to_have_text("stopped: closed (the server has nothing (more) to send)", timeout=10_000)
    expect(page.locator("#echo-log li")).to_have_count(0)
    assert page.evaluate("() => window.typedPage.echo.url").endswith("&lastEventId=2")
    # Two requests in all, whatever the browser might have tried in between: the stream, then
    # the reload's resume (a 204 opens no stream, so it is in the access log, not in the rows).
    wait_for(lambda: len(requests(typed_server, message)) == 2, what="the reload's line")
    assert requests(typed_server, message) == [("", "200"), ("&lastEventId=2", "204")]
    assert opened(typed_server, message) == 1


# In the page, with the module imported as a page would: resolves to what the stream did.
READ_WITH_THE_MODULE = """async ([url, options, name]) => {
    const { TypedEventSource } = await import("/static/echo/eventsource.js");
    return await new Promise((resolve) => {
        const source = new TypedEventSource(url, {
            ...options,
            onStop: (stop) => resolve({ stop, storage: { ...sessionStorage } }),
        });
        source.on(name, (data) => {
            source.close();
            resolve({ data, storage: { ...sessionStorage } });
        });
    });
}"""


def test_a_stream_url_with_credentials_keeps_them_out_of_storage(page: Page, typed_server: Server) -> None:
    page.goto(f"{typed_server.url}/typed/?message=storage")
    url = "/sse2?message=kept&interval=0&token=tok-secret&accessToken=at-secret&apiKey=ak-secret"

    read = page.evaluate(READ_WITH_THE_MODULE, [url, {"resume": "session"}, "echo"])

    assert read["data"]["message"] == "kept"
    key = f"echo-sse:last-event-id:{typed_server.url}/sse2?interval=0&message=kept"
    assert read["storage"][key] == "0"
    assert "secret" not in repr(read["storage"])


def test_a_refused_stream_stops_as_closed_and_is_not_reopened(page: Page, typed_server: Server) -> None:
    page.goto(f"{typed_server.url}/typed/?message=refused")
    tag = uuid.uuid4().hex[:8]

    read = page.evaluate(READ_WITH_THE_MODULE, [f"/sse2?message={tag}&limit=0", {}, "echo"])

    assert read["stop"] == {"reason": "closed", "data": None}
    assert opened(typed_server, tag) == 0  # a 400 opens no stream


def test_an_event_named_as_text_reaches_its_listener_as_the_string_sent(
    page: Page, typed_server: Server
) -> None:
    page.goto(f"{typed_server.url}/typed/?message=text")

    read = page.evaluate(READ_WITH_THE_MODULE, ["/sse?message=hi&interval=0", {"text": ["echo"]}, "echo"])

    assert read["data"].startswith("{'message': 'hi', ")  # a Python dict's text, not JSON


def test_the_docs_template_snippet_runs_in_the_browser(page: Page, typed_server: Server) -> None:
    from django.template import engines

    docs = Path(__file__).resolve().parents[2] / "docs" / "browser" / "typed-module.md"
    snippet = re.search(r"```html\n(.*?)```", docs.read_text(), re.S)
    assert snippet is not None
    html = engines["django"].from_string(snippet.group(1)).render()
    # The page comes from the docs; the module and the stream from the real server.
    page.route(
        f"{typed_server.url}/docs-snippet/", lambda route: route.fulfill(body=html, content_type="text/html")
    )

    page.goto(f"{typed_server.url}/docs-snippet/")

    expect(page.locator("#state")).to_have_text("open", timeout=10_000)
    expect(page.locator("#log li").first).to_have_text("#0 hello", timeout=10_000)
