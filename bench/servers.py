"""The servers under test, each a real process on a free loopback port, stopped by its pid.

- `project`: `python -m echo.server -e tcp:...:backlog=4096 sse_project.asgi:application`, as `make
  run` serves it: DEBUG off, session recording and every middleware on, its own migrated SQLite file
  (`-pg` at the end: PostgreSQL). `project-bench` adds bench/django_bench's URLs (in-process publish,
  the bare-Django-view floor).
- `reference`: bench/reference_app.py (FastAPI + sse-starlette, its defaults, the ping task too)
  under `uvicorn[standard]` (uvloop, httptools); `reference-noping` the same with `ping=0`.
- `eventstream`: django-eventstream's stock set-up in its own process under Daphne (stock.py).
- `project-wN`, `project-bench-wN` / `uvicorn-wN`: N worker processes (`echo.server --workers N`,
  the reference under `uvicorn --workers N`); not pinned, their CPU the whole process tree's."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.client import raise_nofile

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CORE, LOAD_CORE = 0, 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _env(settings: str, folder: Path, database_url: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONDEV", "PYTHONASYNCIO"))}
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE=settings,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-" + "k" * 50,
        ECHO_SQLITE_PATH=str(folder / "db.sqlite3"),
        **extra,
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _uvicorn(app: str, port: int, workers: int = 0) -> list[str]:
    command = [str(BIN / "uvicorn"), "--app-dir", str(ROOT / "bench"), "--host", HOST]
    command += ["--port", str(port), "--backlog", "4096", "--loop", "uvloop", "--http", "httptools"]
    command += ["--log-level", "warning", app]
    return command + (["--workers", str(workers)] if workers else [])


def _echo_server(port: int, workers: int = 0) -> list[str]:
    endpoint = f"tcp:port={port}:interface={HOST}:backlog=4096"
    # -v 0: no access line per request, as the reference at --log-level warning (_uvicorn).
    command = [str(BIN / "python"), "-m", "echo.server", "-v", "0", "-e", endpoint]
    return command + (["--workers", str(workers)] if workers else []) + ["sse_project.asgi:application"]


def command_and_env(variant: str, port: int, folder: Path, pg: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a variant (see the module's docstring)."""
    project, bench = "sse_project.settings", "bench.django_bench.settings"
    workers = int(variant.split("-w")[1][0]) if "-w" in variant else 0  # project-bench-w2-pg: 2
    if variant.startswith(("project", "floor")):
        settings = bench if variant.startswith(("project-bench", "floor")) else project
        return _echo_server(port, workers), _env(settings, folder, pg)
    if variant.startswith(("reference", "uvicorn-w")):
        ping = "0" if variant == "reference-noping" else ""
        return _uvicorn("reference_app:app", port, workers), _env(project, folder, REFERENCE_PING=ping)
    if variant == "eventstream":
        command = [str(BIN / "daphne"), "-b", HOST, "-p", str(port), "bench.django_bench.stock:application"]
        return command, _env("bench.django_bench.stock_settings", folder)
    raise ValueError(f"unknown variant {variant!r}")


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    found, queue = [], [pid]
    while queue and len(found) < 1000:
        found.append(current := queue.pop())
        queue += children.get(current, [])
    return found


@dataclass
class Server:
    variant: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(repr=False)

    def _read(self, name: str) -> list[str]:
        texts = []
        for pid in _tree(self.process.pid):
            with contextlib.suppress(OSError):
                texts.append(Path(f"/proc/{pid}/{name}").read_text())
        return texts

    def cpu(self) -> float:
        """CPU seconds of the server and its workers so far (utime + stime)."""
        fields = [text[text.rindex(")") + 2 :].split() for text in self._read("stat")]
        return sum(int(found[11]) + int(found[12]) for found in fields) / TICKS

    def status(self, key: str) -> int:
        """A /proc status figure (VmRSS in KB, Threads) summed over the tree."""
        lines = [line for text in self._read("status") for line in text.splitlines()]
        return sum(int(line.split()[1]) for line in lines if line.startswith(key + ":"))

    def fds(self) -> list[str]:
        found = []
        for fd in os.listdir(f"/proc/{self.process.pid}/fd"):
            with contextlib.suppress(OSError):
                found.append(os.readlink(f"/proc/{self.process.pid}/fd/{fd}"))
        return found

    def errors(self) -> list[str]:
        text = self.log.read_text(errors="replace")
        return [line for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback")]

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def _limits_and_core(pin: bool) -> None:
    raise_nofile(1 << 16)  # in the child before exec: every thread and worker inherits both
    if pin:
        os.sched_setaffinity(0, {SERVER_CORE})


def start(variant: str, folder: Path, *, pg: str = "", port: int = 0, timeout: float = 60.0) -> Server:
    """Start `variant` and return once it answers HTTP; `port` 0 picks a free one."""
    port = port or free_port()
    command, env = command_and_env(variant, port, folder, pg)
    marker = folder / ("migrated-pg" if pg else "migrated")
    if variant.startswith(("project", "floor", "eventstream")) and not marker.exists():
        migrate = [str(BIN / "python"), "-m", "django", "migrate", "--noinput", "-v0"]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True, timeout=300)
        marker.touch()
    log = folder / f"{variant}-{port}.log"
    pin = "-w" not in variant
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=lambda: _limits_and_core(pin),
        )  # fmt: skip
    server = Server(variant, port, process, log, env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{variant} exited {process.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return server
        time.sleep(0.05)  # polling the port with a deadline
    server.stop()
    raise RuntimeError(f"{variant} not listening after {timeout} s")


def cpu_probe() -> float:
    """This core's speed: millions of simple Python loop steps a second (best of three)."""
    took = []
    for _ in range(3):
        began, total = time.perf_counter(), 0
        for n in range(1_000_000):
            total += n & 7
        took.append(time.perf_counter() - began)
    return round(1.0 / min(took), 2)
