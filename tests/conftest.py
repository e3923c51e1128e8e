from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from echo.sse.runtime import state
from echo.sse.runtime.liveness import pinger
from echo.sse.runtime.registry import registry
from echo.sse.runtime.shutdown import shutdown

from .browser import launch_browser
from .servers import Server, daphne

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def pytest_configure(config: pytest.Config) -> None:
    # A run started in the background of a script (`make test &`) inherits SIGINT ignored, and so
    # would every server it starts (which then rightly ignores SIGINT). The live tests start their
    # servers as from a terminal; tests/sse/test_shutdown_live.py starts one with SIGINT ignored.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def process_state() -> Iterator[None]:
    """Each test leaves the process-wide state (ARCHITECTURE.md, `echo.sse.runtime.state`) as it found it:
    a stream it left open, an admission it did not release or a drain it left running fails that
    test, and the next one starts from a reset state either way (`state.reset()`)."""
    yield
    left = {
        "live streams": len(list(registry.live_streams())),
        "admitted": registry.admitted(),
        "pinged": len(pinger),
        "draining": shutdown.in_progress,
    }
    state.reset()
    assert left == {"live streams": 0, "admitted": 0, "pinged": 0, "draining": False}


@pytest.fixture(scope="session", autouse=True)
def session_writer_closed(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The session writer keeps a database connection while its thread lives: end it before the
    test database is dropped (PostgreSQL refuses to drop a database in use). So does asgiref's
    one thread for `sync_to_async` calls made outside any request (a test's `apublish` under
    `asyncio.run`): on PostgreSQL, what such threads still hold is ended from the server side."""
    yield
    from django.db import connection

    from echo.sessions.recorder import recorder

    with django_db_blocker.unblock():
        recorder.close(timeout=10)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            connection.close()


@pytest.fixture(scope="session")
def live_server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One Daphne process shared by the tests that only read streams from it."""
    with daphne(tmp_path_factory.mktemp("daphne")) as server:
        yield server


@pytest.fixture
def fresh_daphne(tmp_path: Path) -> Iterator[Server]:
    """A Daphne process of the test's own, for tests that count its threads or stop it."""
    with daphne(tmp_path) as server:
        yield server


@pytest.fixture
def server(live_server_process: Server) -> Iterator[Server]:
    """The shared Daphne, checked after the test for server errors the client could not see."""
    start = len(live_server_process.log())
    yield live_server_process
    new_log = live_server_process.log()[start:]
    assert "Traceback" not in new_log, new_log
    assert not re.search(r'" 5\d\d ', new_log), new_log


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright (see tests/browser.py)."""
    yield from launch_browser()
