"""`python -m echo.server --workers N`: one listening socket, N worker processes serving it.

The parent binds each endpoint once and starts N workers (`python -m echo.server` again, with the
same options and `--worker-endpoint fd:fileno=N` per socket: Daphne's `fd:` endpoint, which adopts
an IPv4 socket only, hence IPv4 `tcp` endpoints only), which inherit the sockets and accept on
them. Inherited sockets rather than `SO_REUSEPORT`: the port stays bound while a worker restarts,
and a connection waiting in the backlog is taken by whichever worker is free instead of one hashed
to a dead worker (docs/operations.md "Workers" has the measurements).

The parent imports neither Django nor Twisted. It restarts a worker that dies (at once, or after
a growing delay while workers keep dying soon after they start; it gives up, exiting 1, after
`_GIVE_UP` such deaths in a row). On SIGTERM or SIGINT it sends the signal on to every worker, each
of which drains its streams (a final `shutdown` event, `echo.sse.runtime.shutdown`), and exits 0
once they have all gone; a second signal is sent on too (a worker then stops at once). Workers run
in a process group of their own, so a terminal's Ctrl-C reaches the parent only, and they are
sent SIGTERM by the kernel if the parent dies (Linux's parent-death signal).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Supervisor", "bind", "split_endpoint"]

logger = logging.getLogger("echo.server.workers")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A worker that dies sooner than this after its start counts as failing to start.
_STARTUP = 5.0
_GIVE_UP = 5
_MAX_DELAY = 8.0
# How long the parent waits for its workers to drain: SHUTDOWN_GRACE is at most 60 s, then the
# recorder's last flush; past this a worker is killed.
_STOP_TIMEOUT = 90.0
_PR_SET_PDEATHSIG = 1


def split_endpoint(description: str) -> tuple[str, list[str], dict[str, str]]:
    """A Twisted server endpoint string as (type, positional, named); `\\` escapes a character."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(description)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    positional = [part for part in parts[1:] if "=" not in part]
    named = dict(part.split("=", 1) for part in parts[1:] if "=" in part)
    return parts[0], positional, named


def bind(description: str) -> socket.socket:
    """A listening socket for an IPv4 `tcp` endpoint, bound as Twisted binds one."""
    kind, positional, named = split_endpoint(description)
    interface = named.get("interface", "")
    if kind != "tcp" or ":" in interface:
        # Workers adopt the socket through Daphne's `fd:` endpoint, which takes AF_INET only.
        raise ValueError(f"--workers serves IPv4 tcp endpoints only, not {description!r}")
    port = int(named.get("port", positional[0] if positional else 0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As Twisted does on POSIX: a restart binds the port again while old connections linger.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((interface, port))
    sock.listen(int(named.get("backlog", 50)))
    return sock


def worker_endpoint(sock: socket.socket) -> str:
    return f"fd:fileno={sock.fileno()}"


def _parent_death_signal() -> Callable[[], None] | None:
    """What a child runs before exec so that the kernel sends it SIGTERM when the parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def on_parent_death() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return on_parent_death


@dataclass
class Slot:
    """One worker's place: its process, when it started, when it may be started again."""

    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    due: float | None = 0.0


class Supervisor:
    """Starts the workers, restarts those that die, and stops them all on a signal."""

    def __init__(self, command: Sequence[str], sockets: Sequence[socket.socket], workers: int) -> None:
        self.command = [*command]
        for sock in sockets:
            self.command += ["--worker-endpoint", worker_endpoint(sock)]
        self.fds = [sock.fileno() for sock in sockets]
        self.slots = [Slot() for _ in range(workers)]
        self.failures = 0  # workers that died soon after starting, in a row
        self._preexec = _parent_death_signal()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def run(self) -> int:
        previous = {signum: signal.signal(signum, _noop) for signum in (*STOP_SIGNALS, signal.SIGCHLD)}
        old_wakeup = signal.set_wakeup_fd(self._wake_w)
        try:
            return self._serve()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _serve(self) -> int:
        while True:
            now = time.monotonic()
            for slot in self.slots:
                if slot.due is not None and slot.due <= now:
                    self._start(slot)
            received = self._wait(self._next_due())
            stop = next((signum for signum in received if signum in STOP_SIGNALS), None)
            if stop is not None:
                return self._stop(stop)
            if not self._reap():
                logger.error("Workers keep dying as they start (%d in a row): giving up", self.failures)
                self._stop(signal.SIGTERM)
                return 1

    def _start(self, slot: Slot) -> None:
        slot.process = subprocess.Popen(
            self.command, pass_fds=self.fds, process_group=0, preexec_fn=self._preexec
        )
        slot.started, slot.due = time.monotonic(), None
        logger.info("Started worker %d", slot.process.pid)

    def _next_due(self) -> float | None:
        dues = [slot.due for slot in self.slots if slot.due is not None]
        return max(0.0, min(dues) - time.monotonic()) if dues else None

    def _wait(self, timeout: float | None) -> list[int]:
        """The signals received, waiting up to `timeout` seconds for one."""
        with contextlib.suppress(InterruptedError):
            select.select([self._wake_r], [], [], timeout)
        try:
            return list(os.read(self._wake_r, 512))
        except BlockingIOError:
            return []

    def _reap(self) -> bool:
        """Schedule a restart for each worker gone; False when they keep failing to start."""
        now = time.monotonic()
        for slot in self.slots:
            if slot.process is None or slot.process.poll() is None:
                continue
            process, slot.process = slot.process, None
            lived = now - slot.started
            self.failures = self.failures + 1 if lived < _STARTUP else 0
            delay = min(_MAX_DELAY, 0.25 * 2 ** (self.failures - 1)) if self.failures else 0.0
            logger.warning(
                "Worker %d %s after %.1f s; starting another in %.2f s",
                process.pid,
                _exit_status(process.returncode),
                lived,
                delay,
            )
            slot.due = now + delay
        return self.failures < _GIVE_UP

    def _stop(self, signum: int) -> int:
        live = [slot.process for slot in self.slots if slot.process and slot.process.poll() is None]
        logger.info("Stopping %d worker(s) (%s)", len(live), signal.Signals(signum).name)
        deadline = time.monotonic() + _STOP_TIMEOUT
        for process in live:
            process.send_signal(signum)
        while any(process.poll() is None for process in live):
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(live)
                return 1
            for again in self._wait(min(left, 0.5)):
                if again in STOP_SIGNALS:  # a second signal: the workers stop at once
                    _signal(live, again)
        return 0


def _signal(processes: list[subprocess.Popen[bytes]], signum: int) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signum)


def _kill(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            logger.error("Worker %d did not stop in %.0f s: killed", process.pid, _STOP_TIMEOUT)
            process.kill()
            process.wait()


def _noop(signum: int, frame: object) -> None:
    # The wake-up fd carries the signal's number to the loop; the handler itself has nothing to do.
    pass


def _exit_status(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with {returncode}"


def supervise(command: Sequence[str], endpoints: Sequence[str], workers: int) -> int:
    """Bind `endpoints`, serve them with `workers` processes running `command`; the exit status."""
    try:
        sockets = [bind(description) for description in endpoints]
    except (OSError, ValueError) as exc:
        logger.error("Cannot listen on %s: %s", ", ".join(endpoints), exc)
        return 1
    logger.info("Serving %s with %d workers", ", ".join(endpoints), workers)
    try:
        return Supervisor(command, sockets, workers).run()
    finally:
        for sock in sockets:
            sock.close()
