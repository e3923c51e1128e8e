"""The sessions changelist in a real browser, served the way `make run` serves it.

Daphne serves no static files: without WhiteNoise every `/static/admin/...` request is a 404 and
the admin is raw HTML whose "select all" does nothing. Checked here in Debian's Chromium, with
the development set-up (`DEBUG`, files straight from the apps) and the production one
(`DEBUG` off, `collectstatic` first). `ECHO_UPDATE_SCREENSHOTS=1` refreshes the README's
screenshot, docs/admin-sessions.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from ..browser import keep_screenshot
from ..servers import Server, daphne, run_python, server_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.live

CREATE_ADMIN = """
from django.contrib.auth.models import User
User.objects.create_superuser("root", password="pw-root-2231")
"""
CHANGELIST = "/admin/echo_sessions/streamsession/"


@pytest.fixture(params=["debug", "production"])
def admin_server(request: pytest.FixtureRequest, tmp_path: Path) -> Server:
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
        yield server


def test_the_sessions_changelist_is_styled_and_select_all_works(
    admin_server: Server, browser: Browser, tmp_path: Path
) -> None:
    # A desktop width: at 1280-1440 px Django's navigation sidebar and filter column leave the table
    # too little room and it scrolls sideways (the « button folds the sidebar away).
    page = browser.new_page(viewport={"width": 1600, "height": 900})
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
        assert rows.count() >= 3
        page.click("#action-toggle")  # the admin's actions.js, a static file too
        assert all(rows.nth(i).is_checked() for i in range(rows.count()))

        # Every column in view, none scrolled away behind the filters.
        assert page.eval_on_selector(".results", "el => el.scrollWidth <= el.clientWidth")
        keep_screenshot(page, tmp_path, "admin-sessions.png")
    finally:
        page.close()
