"""The admin's live dashboard in Debian's Chromium, served as `make run` serves it: the charts
draw from the dashboard's own event stream, and a stream opened elsewhere shows within two
seconds. `ECHO_UPDATE_SCREENSHOTS=1` refreshes docs/admin-dashboard.png."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from ..browser import keep_screenshot
from ..servers import Server, admin_login, daphne, run_python

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.live

CREATE_USERS = """
from django.contrib.auth.models import Permission, User
User.objects.create_superuser("root", password="pw-root-2231")
viewer = User.objects.create_user("viewer", password="pw-viewer-2231", is_staff=True)
viewer.user_permissions.add(Permission.objects.get(codename="view_streamsession"))
User.objects.create_user("staff", password="pw-staff-2231", is_staff=True)
"""
DASHBOARD = "/admin/echo_sessions/streamsession/dashboard/"
FEED = f"{DASHBOARD}events/"


@pytest.fixture
def server(tmp_path: Path) -> Server:
    settings = json.dumps({"DASHBOARD_SAMPLE_INTERVAL": 0.5, "DASHBOARD_REFRESH": 0.5})
    with daphne(tmp_path, DJANGO_DEBUG="1", ECHO_TEST_SETTINGS=settings) as running:
        run_python("manage.py", "shell", "-c", CREATE_USERS, env=running.env)
        yield running


def test_the_dashboard_draws_and_shows_a_new_stream_within_two_seconds(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    for n in range(5):  # some history: connects, completed ends, events
        httpx.get(f"{server.url}/sse2", params={"message": f"m{n}", "limit": 3, "interval": 0}, timeout=10)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{server.url}/admin/login/?next=/admin/echo_sessions/streamsession/")
        page.fill("#id_username", "viewer")
        page.fill("#id_password", "pw-viewer-2231")
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/echo_sessions/streamsession/")
        page.click("text=Dashboard")  # linked from the changelist
        page.wait_for_url(f"**{DASHBOARD}")
        page.wait_for_selector("#dashboard-state:has-text('live')", timeout=10_000)
        # The charts draw: lines with points, once two samples are in.
        page.wait_for_selector("[data-chart=connects] polyline", timeout=10_000)
        points = page.get_attribute("[data-chart=events]", "data-points")
        assert points is not None
        assert int(points) >= 2
        assert page.locator("[data-chart=ends] polyline[data-series=completed]").count() == 1

        # A new stream, opened elsewhere: in the table within two seconds of its first event.
        with httpx.stream(
            "GET", f"{server.url}/sse3", params={"message": "dash", "interval": 0.2}, timeout=10
        ) as response:
            lines = response.iter_lines()  # kept: a dropped iterator closes the response
            next(lines)
            opened = time.monotonic()
            # Named after the events it has sent so far: `echo`, then `echo+reverse_echo`.
            page.wait_for_selector("#open-streams td:text-matches('^echo([+]reverse_echo)?$')", timeout=2_000)
            seen_after = time.monotonic() - opened
            assert seen_after < 2.0
            assert page.inner_text("#open-total") != "0"
            crumbs = page.inner_text(".breadcrumbs")
            assert "Stream sessions" in crumbs, crumbs
            assert "Dashboard" in crumbs, crumbs
            header = page.eval_on_selector("#header", "el => getComputedStyle(el).backgroundColor")
            assert header not in ("rgba(0, 0, 0, 0)", "transparent"), header
            keep_screenshot(page, tmp_path, "admin-dashboard.png")
    finally:
        page.close()


def test_the_dashboard_and_its_stream_need_the_view_permission(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as anonymous:
        refused = anonymous.get(FEED)
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"
        assert anonymous.get(DASHBOARD).status_code == 302  # to the admin's login page
    with httpx.Client(base_url=server.url, timeout=10) as staff:
        admin_login(staff, "staff", "pw-staff-2231")  # staff, without the permission
        assert staff.get(DASHBOARD).status_code == 403
        refused = staff.get(FEED)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/json"
    with httpx.Client(base_url=server.url, timeout=10) as viewer:
        admin_login(viewer, "viewer", "pw-viewer-2231")
        assert viewer.get(DASHBOARD).status_code == 200
        with viewer.stream("GET", FEED) as feed:
            assert feed.status_code == 200
            assert feed.headers["content-type"].startswith("text/event-stream")
            first = next(line for line in feed.iter_lines() if line.startswith("event:"))
            assert first == "event: metrics_history"
