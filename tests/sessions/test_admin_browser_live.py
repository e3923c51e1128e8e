"""The sessions changelist in a real browser, served the way `make run` serves it.

Daphne serves no static files: without WhiteNoise every `/static/admin/...` request is a 404 and
the admin is raw HTML whose "select all" does nothing. Checked here in Debian's Chromium, with
the development set-up (`DEBUG`, files straight from the apps) and the production one
(`DEBUG` off, `collectstatic` first). `ECHO_UPDATE_SCREENSHOTS=1` refreshes the README's
screenshot, docs/admin-sessions.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from ..browser import keep_screenshot
from ..servers import Server, admin_login, daphne, run_python, server_env, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.live

CREATE_ADMIN = """
from django.contrib.auth.models import User
User.objects.create_superuser("root", password="pw-root-2231")
"""
CHANGELIST = "/admin/echo_sessions/streamsession/"
LONG_CHANNELS = "user-1,news,price-updates-for-the-whole-catalogue,announcements-to-every-customer"
END_REASONS = """
from echo.sessions.models import StreamSession
print(list(StreamSession.objects.values_list("end_reason", flat=True)))
"""


@pytest.fixture(params=["debug", "production"])
def admin_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    extra: dict[str, str] = {"DJANGO_DEBUG": "1" if request.param == "debug" else "0"}
    if request.param == "production":
        static_root = tmp_path / "static"
        extra["ECHO_STATIC_ROOT"] = str(static_root)
        env = server_env(tmp_path / "db.sqlite3", **extra)
        run_python("manage.py", "collectstatic", "--noinput", "-v0", env=env)
        assert (static_root / "admin" / "css" / "base.css").exists()
    with daphne(tmp_path, **extra) as server:
        run_python("manage.py", "shell", "-c", CREATE_ADMIN, env=server.env)
        for n in range(3):  # three recorded sessions to list
            httpx.get(
                f"{server.url}/sse2", params={"message": f"m{n}", "limit": 1, "interval": 0}, timeout=10
            )
        # And one with the widest cells: the merged stream's name, a client that went away.
        params = {"message": "wide", "interval": 0.05}
        with httpx.stream("GET", f"{server.url}/sse3", params=params, timeout=10) as response:
            next(response.iter_lines())
        # Names as a real site's are: a signed-in user's broadcast stream over several channels,
        # one still open while the page is read.
        with httpx.Client(base_url=server.url, timeout=10) as client:
            admin_login(client, "root", "pw-root-2231")
            with client.stream("GET", f"/events/{LONG_CHANNELS}/") as response:
                next(response.iter_lines())
            # A subscription is named after its declarations (`events:user-{id},{channel}` here):
            # a site that declares names this long gets this name.
            with client.stream(
                "GET", "/_probe/named", params={"name": f"events:{LONG_CHANNELS}"}
            ) as response:
                next(response.iter_lines())
            with client.stream("GET", f"/events/{LONG_CHANNELS},order-updates-for-customer-4711/") as held:
                lines = held.iter_lines()  # kept: a dropped iterator closes the response
                next(lines)
                reasons = lambda: run_python("manage.py", "shell", "-c", END_REASONS, env=server.env)  # noqa: E731
                wait_for(lambda: reasons().count("client_disconnected") >= 3, timeout=30, what="three ended")
                wait_for(lambda: "''" in reasons(), timeout=30, what="the live broadcast session")
                yield server


def test_the_sessions_changelist_is_styled_and_select_all_works(
    admin_server: Server, browser: Browser, tmp_path: Path
) -> None:
    # A laptop's width, with Django's navigation sidebar open and the filters beside the table.
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{admin_server.url}/admin/login/?next={CHANGELIST}")
        page.fill("#id_username", "root")
        page.fill("#id_password", "pw-root-2231")
        page.click("input[type=submit]")
        page.wait_for_url(f"**{CHANGELIST}")
        page.wait_for_selector("#result_list")

        # The admin's stylesheet applied: its header colour, not the browser's default.
        header = page.eval_on_selector("#header", "el => getComputedStyle(el).backgroundColor")
        assert header not in ("rgba(0, 0, 0, 0)", "transparent"), header
        status = page.evaluate(
            "() => fetch(document.querySelector('link[rel=stylesheet]').href).then(r => r.status)"
        )
        assert status == 200

        rows = page.locator("input.action-select")
        assert rows.count() >= 4
        page.click("#action-toggle")  # the admin's actions.js, a static file too
        assert all(rows.nth(i).is_checked() for i in range(rows.count()))

        # Every column in view, none scrolled away behind the filters; the ones that decide what to
        # terminate among them, and the breadcrumb names the app and then the model.
        widths = page.eval_on_selector_all(
            "#result_list th", "ths => ths.map(th => th.className + ' ' + th.getBoundingClientRect().width)"
        )
        assert page.eval_on_selector(".results", "el => el.scrollWidth <= el.clientWidth"), widths
        for column in ("state", "end_reason", "started"):
            box = page.locator(f"th.column-{column}").bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= 1280, (column, box)
        crumbs = page.inner_text(".breadcrumbs")
        assert "Event streams" in crumbs, crumbs
        assert "Stream sessions" in crumbs, crumbs
        assert page.locator("td.field-end_reason", has_text="client disconnected").count() == 3
        # Every row's end reason in view whatever its stream's name; a long name is cut (two lines
        # and an ellipsis) and kept whole in its title.
        for box in page.locator("td.field-end_reason").all():
            cell = box.bounding_box()
            assert cell is not None
            assert cell["x"] >= 0, cell
            assert cell["x"] + cell["width"] <= 1280, cell
        long_name = f"events:{LONG_CHANNELS}"
        names = page.locator(f'.field-stream_name [title="{long_name}"]')
        assert names.count() == 1
        assert names.first.evaluate("el => el.scrollHeight > el.clientHeight")  # cut: there is more
        started = page.locator("td.field-started").first.inner_text()
        assert len(started.split(":")) == 3, started  # to the second
        keep_screenshot(page, tmp_path, "admin-sessions.png")
    finally:
        page.close()
