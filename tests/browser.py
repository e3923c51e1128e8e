"""Debian's Chromium, headless, driven by Playwright (no browser download): the `browser` fixture
and the screenshots the docs show.

A missing package or browser skips the tests that use it, or fails them when
ECHO_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .services import require

DOCS = Path(__file__).resolve().parent.parent / "docs"

HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
if HAVE_PLAYWRIGHT or TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM_MISSING = "chromium is not installed (apt-get install chromium)"
PLAYWRIGHT_MISSING = "the playwright package is not installed (pip install -r requirements-dev.txt)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # the tests may run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require_playwright() -> None:
    if not HAVE_PLAYWRIGHT:
        if os.environ.get("ECHO_REQUIRE_SERVICES") == "1":
            pytest.fail(PLAYWRIGHT_MISSING)
        pytest.skip(PLAYWRIGHT_MISSING)


def launch_browser() -> Iterator[Browser]:
    _require_playwright()
    executable = require("chromium", CHROMIUM_MISSING)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def keep_screenshot(page: Page, folder: Path, name: str) -> Path:
    """A full-page screenshot in `folder`; with ECHO_UPDATE_SCREENSHOTS=1 also `docs/<name>`, the
    picture the README shows (look at it before committing it)."""
    shot = folder / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, "an empty page"
    if os.environ.get("ECHO_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(shot, DOCS / name)
    return shot
