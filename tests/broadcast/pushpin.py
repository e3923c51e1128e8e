"""A Pushpin (GRIP proxy) of the test's own: free loopback ports, its own config and runtime dir.

Started with `make pushpin`, which runs the repository's own `deploy/pushpin/start`; it renders
`deploy/pushpin/pushpin.conf`: the runner starts its own zurl, the ZeroMQ sockets are ipc files in
the runtime dir (here a temp dir), and only two TCP ports are opened, both on 127.0.0.1: the
proxy's HTTP port and the handler's HTTP control (publish) port.

make runs the start script, which execs Pushpin's runner, which starts condure, zurl, pushpin-proxy and
pushpin-handler, each in a process group of its own. So the runner is started in a new session
(`start_new_session=True`), and everything in that session is what this helper started: at the
end the runner's group gets SIGTERM (it stops its services), and whatever of the session is
still alive after a deadline is killed by its pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..servers import ROOT, free_port, live_processes, wait_for
from ..services import require

PUSHPIN_MISSING = "pushpin is not installed (apt-get install pushpin)"
# Every Pushpin test runs it the way the README says, `make pushpin` (deploy/pushpin/start with
# deploy/pushpin/pushpin.conf), on ports and a runtime directory of its own.


@dataclass
class Pushpin:
    process: subprocess.Popen[bytes]
    http_port: int
    publish_port: int
    directory: Path

    @property
    def url(self) -> str:
        """Where clients connect: requests are proxied to the origin named in the routes file."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grip_url(self) -> str:
        """The publish (HTTP control) endpoint, the value for Django's `GRIP_URL`."""
        return f"http://127.0.0.1:{self.publish_port}"

    def log(self) -> str:
        return (self.directory / "pushpin.log").read_text(errors="replace")

    def session_members(self) -> list[int]:
        """Pids of the live processes of pushpin's session: the runner and the services it started."""
        return _session_members(self.process.pid)


def require_pushpin() -> str:
    """pushpin's path; skip (or fail, with ECHO_REQUIRE_SERVICES=1) when it or its services are missing."""
    binary = require("pushpin", PUSHPIN_MISSING)
    for helper in ("condure", "zurl"):
        require(helper, f"{helper} is not installed (Debian's pushpin package brings it)")
    return binary


def _answers(url: str) -> bool:
    """Any HTTP response at all (a 502 from the proxy included): the chain behind the port is up."""
    try:
        with httpx.stream("GET", url, timeout=2.0):
            return True  # headers are in; the body does not matter
    except httpx.TransportError:
        return False


def _holds(url: str) -> bool:
    """True once pushpin answers a GRIP stream request with 200 (the handler is connected)."""
    try:
        with httpx.stream("GET", url, timeout=2.0) as response:
            return response.status_code == 200
    except httpx.TransportError:
        return False


def reserve_ports() -> tuple[int, int]:
    """Two distinct free loopback ports: (http, publish)."""
    http_port = free_port()
    publish_port = free_port()
    while publish_port == http_port:
        publish_port = free_port()
    return http_port, publish_port


@contextmanager
def pushpin(
    tmp_path: Path,
    *,
    origin_port: int,
    http_port: int | None = None,
    publish_port: int | None = None,
    origin_serves_streams: bool = True,
) -> Iterator[Pushpin]:
    """Run pushpin in front of `127.0.0.1:<origin_port>`; stop every process of its session at the end."""
    require_pushpin()
    if http_port is None or publish_port is None:
        http_port, publish_port = reserve_ports()
    directory = tmp_path / f"pushpin-{http_port}"
    directory.mkdir()
    # The README's command, `make pushpin`, with this test's ports and runtime directory.
    command = [
        "make",
        "-s",
        "-C",
        str(ROOT),
        "pushpin",
        f"PUSHPIN_PORT={http_port}",
        f"PUSHPIN_PUBLISH_PORT={publish_port}",
        "HOST=127.0.0.1",
        f"PORT={origin_port}",
    ]
    env = {**os.environ, "PUSHPIN_DIR": str(directory)}
    with (directory / "pushpin.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Pushpin(process, http_port, publish_port, directory)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"pushpin exited with {process.returncode}:\n{server.log()}")
            # A listening port is not enough: condure accepts before the proxy and handler are
            # connected, and closes such a connection without an answer. And until the handler
            # has joined, a GRIP hold answers 500 "Accept service unavailable": so the last
            # check is a real held stream.
            return (
                _answers(f"{server.url}/")
                and _answers(f"{server.grip_url}/")
                and (not origin_serves_streams or _holds(f"{server.url}/events/pushpin-ready/"))
            )

        wait_for(ready, timeout=20.0, what=f"pushpin on ports {http_port} and {publish_port}")
        yield server
    finally:
        _stop(process)


def _session_members(session: int) -> list[int]:
    """Live (not zombie) processes whose session id is `session`, read from /proc."""
    return [pid for pid, fields in live_processes() if int(fields[3]) == session]


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The session id is the runner's pid (start_new_session): that session and nothing else.
    session = process.pid
    with suppress(ProcessLookupError):
        os.killpg(session, signal.SIGTERM)  # the runner's own group: it stops its services
    with suppress(subprocess.TimeoutExpired):
        process.wait(10)
    try:
        wait_for(lambda: not _session_members(session), timeout=10.0, what="pushpin's processes to exit")
    except AssertionError:
        for pid in _session_members(session):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _session_members(session), timeout=10.0, what="pushpin's processes to die")
    if process.poll() is None:
        process.kill()
    process.wait(10)
