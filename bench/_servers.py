"""The servers under test, started as real processes on a free loopback port.

`project`: this repo under Daphne, started exactly as `make run` does (Twisted endpoint with
backlog 4096, DEBUG off, its own migrated SQLite file). `reference`: `bench/reference_app.py` under
uvicorn as `uvicorn[standard]` installs it (`fastapi[standard]` brings it): uvloop and httptools.
`project-bench`: the project under Daphne with the bench-only settings and urlconf of
`bench/django_bench`; `project-bench-pg`: the same on PostgreSQL (Debian's server, started for
the run as the suite starts it, tests/postgres.py, and stopped when the run ends);
`project-uvicorn`: the project's ASGI app under uvicorn.
Each server runs pinned to one core with RLIMIT_NOFILE raised to its hard limit; `Server` reads
its CPU time, RSS and thread count from /proc.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    for name in ("PYTHONDEVMODE", "PYTHONASYNCIODEBUG", "PYTHONTRACEMALLOC", "PYTHONWARNINGS"):
        env.pop(name, None)  # debug modes would slow one server more than the other
    return env


@dataclass(frozen=True)
class ServerKind:
    name: str
    label: str
    command: Callable[[int], list[str]]
    env: Callable[[Path], dict[str, str]]
    prepare: Callable[[Path], None]


def _project_env(settings: str) -> Callable[[Path], dict[str, str]]:
    def env(workdir: Path) -> dict[str, str]:
        return clean_env(
            DJANGO_SETTINGS_MODULE=settings,
            ECHO_SQLITE_PATH=str(workdir / "project.sqlite3"),
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY="bench-servers-secret-key-" + "x" * 40,
            # The bench-only settings and urlconf live in bench/django_bench.
            PYTHONPATH=os.pathsep.join([str(ROOT), str(BENCH)]),
        )

    return env


def _project_prepare(workdir: Path) -> None:
    if (workdir / "project.sqlite3").exists():
        return
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=_project_env("sse_project.settings")(workdir),
        check=True,
        timeout=120,
    )


_postgres: dict[str, str] = {}


def postgres_url() -> str:
    """The run's PostgreSQL database, migrated: the server is started on first use and stopped by
    its pid when this process exits."""
    if not _postgres:
        sys.path.insert(0, str(ROOT))
        from tests.postgres import postgres_server

        stack = contextlib.ExitStack()
        server = stack.enter_context(postgres_server())
        atexit.register(stack.close)
        import psycopg

        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        _postgres["url"] = server.url("bench")
        subprocess.run(
            [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=clean_env(DATABASE_URL=_postgres["url"]),
            check=True,
            timeout=120,
        )
    return _postgres["url"]


def _postgres_env(settings: str) -> Callable[[Path], dict[str, str]]:
    on_sqlite = _project_env(settings)
    return lambda workdir: {**on_sqlite(workdir), "DATABASE_URL": postgres_url()}


def _daphne_command(port: int) -> list[str]:
    endpoint = f"tcp:port={port}:interface={HOST}:backlog=4096"
    # `-v 0`: no access log, like the reference's uvicorn at --log-level warning (an access line
    # per request is real work for either server; neither pays for it here).
    return [
        str(BIN / "python"),
        "-m",
        "echo.server",
        "-v",
        "0",
        "-e",
        endpoint,
        "sse_project.asgi:application",
    ]


def _uvicorn_command(app: str, app_dir: Path) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [
            str(BIN / "uvicorn"),
            "--app-dir",
            str(app_dir),
            "--host",
            HOST,
            "--port",
            str(port),
            "--backlog",
            "4096",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            app,
        ]

    return command


def _project(name: str, label: str, settings: str, command: Callable[[int], list[str]]) -> ServerKind:
    return ServerKind(name, label, command, _project_env(settings), _project_prepare)


PROJECT = _project("project", "Daphne + Django (project)", "sse_project.settings", _daphne_command)
REFERENCE = ServerKind(
    name="reference",
    label="uvicorn + FastAPI + sse-starlette",
    command=_uvicorn_command("reference_app:app", BENCH),
    env=lambda workdir: clean_env(),
    prepare=lambda workdir: None,
)
# The project with bench/django_bench's urlconf (in-process publish view, django-eventstream's
# stock endpoint, recording switched on and off at run time).
PROJECT_BENCH = _project(
    "project-bench", "Daphne + Django, bench urlconf", "django_bench.settings", _daphne_command
)
PROJECT_BENCH_PG = ServerKind(
    "project-bench-pg",
    "Daphne + Django, bench urlconf, PostgreSQL",
    _daphne_command,
    _postgres_env("django_bench.settings"),
    lambda workdir: None,
)
# The project's ASGI application under plain uvicorn instead of Daphne: a compatibility check.
PROJECT_UVICORN = _project(
    "project-uvicorn",
    "uvicorn + Django (project)",
    "sse_project.settings",
    _uvicorn_command("sse_project.asgi:application", ROOT),
)
KINDS = {kind.name: kind for kind in (PROJECT, REFERENCE, PROJECT_BENCH, PROJECT_BENCH_PG, PROJECT_UVICORN)}


@dataclass
class Server:
    kind: ServerKind
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    host: str = HOST

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads) so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime

    def _status(self, name: str) -> str:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == name:
                return value.strip()
        raise KeyError(name)

    def rss_kb(self) -> int:
        return int(self._status("VmRSS").split()[0])

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def nofile_limit(self) -> int:
        return int(Path(f"/proc/{self.pid}/limits").read_text().split("Max open files")[1].split()[0])

    @property
    def database_url(self) -> str | None:
        """PostgreSQL's URL for a server on it (None: the project's SQLite file, or no database)."""
        return self.kind.env(self.log_path.parent).get("DATABASE_URL")

    @property
    def sqlite_path(self) -> Path:
        """The project's database (project kinds only)."""
        return self.log_path.parent / "project.sqlite3"

    def cpus_allowed(self) -> str:
        return self._status("Cpus_allowed_list")

    def log_tail(self, size: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.kind.name} server exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll until the port accepts connections, failing if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=1.0):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind.name} server not listening after {timeout}s")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


@contextlib.contextmanager
def running(kind: ServerKind, workdir: Path, *, cpu: int | None) -> Iterator[Server]:
    """Start `kind` on a free port (pinned to `cpu` when given), yield it once listening, stop it by pid."""
    kind.prepare(workdir)
    port = free_port()
    log_path = workdir / f"{kind.name}-{port}.log"

    def pin() -> None:
        # Runs in the child before exec: every thread the server starts inherits both.
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        soft = 1 << 16 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))  # 10k streams need 10k descriptors
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    with log_path.open("wb") as log:
        process = subprocess.Popen(
            kind.command(port),
            cwd=ROOT,
            env=kind.env(workdir),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=pin,
        )
    server = Server(kind, process, port, log_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
