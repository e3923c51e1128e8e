"""`echo.server.loop`: the loop under Twisted's asyncio reactor, chosen before Daphne is imported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from tests.servers import ROOT, daphne

# Installs the reactor as `python -m echo.server` does, imports Daphne's server after it (which
# must keep that reactor), and prints the module of the loop the reactor runs.
_PROBE = """
import asyncio, sys, warnings
warnings.simplefilter("error")
from echo.server.loop import install
print(install(sys.argv[1:]))
import daphne.server
from twisted.internet import reactor
def probe():
    print(type(asyncio.get_running_loop()).__module__)
    reactor.stop()
reactor.callWhenRunning(reactor.callLater, 0, probe)  # once the loop runs
reactor.run()
"""


def _probe(*args: str, env: dict[str, str] | None = None) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_auto_runs_twisted_and_daphne_on_uvloop() -> None:
    assert _probe() == ["uvloop", "uvloop"]


def test_asyncio_keeps_the_stdlib_loop() -> None:
    assert _probe("--loop", "asyncio") == ["asyncio", "asyncio.unix_events"]


def test_the_environment_chooses_when_the_command_line_does_not() -> None:
    assert _probe(env={**os.environ, "ECHO_LOOP": "asyncio"})[0] == "asyncio"
    assert _probe("--loop", "uvloop", env={**os.environ, "ECHO_LOOP": "asyncio"})[0] == "uvloop"


def test_an_unknown_loop_is_refused_by_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "echo.server", "--loop", "trio", "x:y"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "invalid choice: 'trio'" in done.stderr


@pytest.mark.live
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_server_streams_and_drains_on_sigterm_on_either_loop(loop: str, tmp_path: Path) -> None:
    with daphne(tmp_path, ECHO_LOOP=loop) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        query = {"message": "hi", "interval": "0", "limit": "3"}
        with connect_sse(client, "GET", "/sse2", params=query) as source:
            assert [event.event for event in source.iter_sse()][:3] == ["echo"] * 3
        with connect_sse(client, "GET", "/sse2", params={"message": "hi", "interval": "5"}) as source:
            events = source.iter_sse()
            assert next(events).event == "echo"
            server.process.send_signal(signal.SIGTERM)
            assert next(events).event == "shutdown"
        assert server.process.wait(timeout=30) == 0
