"""Real server processes for tests: Daphne (or runserver) on a free loopback port.

Each server gets its own SQLite file, migrated before it starts (a copy of one migrated once per
settings module), and is stopped by its pid.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_APP = "sse_project.asgi:application"
T = TypeVar("T")


def wait_for(condition: Callable[[], T], *, timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `condition` until it returns something truthy, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def live_processes() -> Iterator[tuple[int, list[str]]]:
    """Each live (not zombie) process as its pid and the fields of /proc/<pid>/stat after its
    command name (state, ppid, pgrp, session...): the name may hold spaces and ')'."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            yield int(entry), fields


def postgres_mode() -> bool:
    """The suite runs against PostgreSQL (`make test-postgres`): each server's database is a
    PostgreSQL database named after its SQLite path, so the tests need not know which it is."""
    return os.environ.get("DATABASE_URL", "").startswith("postgres")


def _database_name(db_path: Path) -> str:
    return "echo_" + hashlib.sha1(str(db_path).encode()).hexdigest()[:16]


def server_env(db_path: Path, settings: str = "tests.settings", **extra: str) -> dict[str, str]:
    env = {
        # Servers run with DEBUG off too, which the demo project allows only with a key of one's own.
        "DJANGO_SECRET_KEY": "test-servers-secret-key-" + "x" * 40,
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "ECHO_SQLITE_PATH": str(db_path),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    if postgres_mode() and "DATABASE_URL" not in extra:
        env["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + _database_name(db_path)
    env.pop("PYTHONDEVMODE", None)  # the server's own warnings are not the test's to fail on
    return env


def run_python(*args: str, env: dict[str, str]) -> str:
    """`python ARGS` in the project directory, in a process of its own; its standard output.
    Fails the test, showing the process's standard error, unless it exits with 0."""
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def admin_login(client: httpx.Client, username: str, password: str) -> None:
    """Log `client` in through the admin's login form (the user must be staff)."""
    client.get("/admin/login/")
    response = client.post(
        "/admin/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
            "next": "/admin/",
        },
    )
    assert response.status_code == 302, response.text
    assert response.headers["location"] == "/admin/"


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`manage.py ARGS` in a process of its own, whatever its exit status (the caller checks)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


_migrated: dict[str, Path] = {}
_migrated_postgres: set[tuple[str, str]] = set()


def _migrate_postgres(env: dict[str, str]) -> None:
    import psycopg

    settings, url = env["DJANGO_SETTINGS_MODULE"], env["DATABASE_URL"]
    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            run_python("manage.py", "migrate", "--noinput", "-v0", env=env)
            return
        template = "echo_template_" + settings.replace(".", "_")
        if (server, settings) not in _migrated_postgres:
            admin.execute(f'DROP DATABASE IF EXISTS "{template}"')
            admin.execute(f'CREATE DATABASE "{template}"')
            run_python(
                "manage.py",
                "migrate",
                "--noinput",
                "-v0",
                env={**env, "DATABASE_URL": url.rsplit("/", 1)[0] + "/" + template},
            )
            _migrated_postgres.add((server, settings))
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def migrate(env: dict[str, str]) -> None:
    """Give the server in `env` a migrated SQLite file. A new file is a copy of one migrated once
    per settings module in a test run (`migrate` takes about 1.5 s each time it runs). Against
    PostgreSQL, a new database made from a template database migrated once per settings module."""
    if env.get("DATABASE_URL", "").startswith("postgres"):
        _migrate_postgres(env)
        return
    settings, path = env["DJANGO_SETTINGS_MODULE"], Path(env["ECHO_SQLITE_PATH"])
    if path.exists():  # a database other servers may be using already: migrate it in place
        run_python("manage.py", "migrate", "--noinput", "-v0", env=env)
        return
    if settings not in _migrated:
        folder = Path(tempfile.mkdtemp(prefix="echo-tests-db-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = folder / "db.sqlite3"
        run_python("manage.py", "migrate", "--noinput", "-v0", env={**env, "ECHO_SQLITE_PATH": str(template)})
        _migrated[settings] = template
    # SQLite's backup copies a consistent database, whatever journal files lie beside it.
    with (
        closing(sqlite3.connect(_migrated[settings])) as source,
        closing(sqlite3.connect(path)) as target,
    ):
        source.backup(target)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    env: dict[str, str] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stacks(self) -> str:
        """The log with every thread's stack at the end (tests.settings registers SIGUSR1), for a
        server that hangs; the log alone when the process is gone or says nothing in time."""
        if self.process.poll() is not None:
            return self.log()
        before = self.log().count("most recent call first")
        self.process.send_signal(signal.SIGUSR1)
        with suppress(AssertionError):
            wait_for(lambda: self.log().count("most recent call first") > before, timeout=5, what="stacks")
        return self.log()

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def wait_ready(self, timeout: float = 20.0) -> None:
        def answers() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                httpx.get(f"{self.url}/_probe/stats", timeout=1.0)
            except httpx.TransportError:
                return False
            return True

        wait_for(answers, timeout=timeout, what=f"server on port {self.port}")


@contextmanager
def running(
    command: Sequence[str], tmp_path: Path, *, host: str, port: int, env: dict[str, str]
) -> Iterator[Server]:
    log_path = tmp_path / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(list(command), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, host, port, log_path, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def daphne_command(host: str, port: int, app: str = "sse_project.asgi:application") -> list[str]:
    endpoint = f"tcp:port={port}:interface={host.replace(':', chr(92) + ':')}:backlog=4096"
    return [sys.executable, "-m", "echo.server", "-e", endpoint, app]


@contextmanager
def daphne(tmp_path: Path, *, host: str = "127.0.0.1", **extra_env: str) -> Iterator[Server]:
    env = server_env(tmp_path / "db.sqlite3", **extra_env)
    migrate(env)
    port = free_port(host)
    with running(daphne_command(host, port), tmp_path, host=host, port=port, env=env) as server:
        yield server


def uvicorn_command(host: str, port: int, app: str = "sse_project.asgi:application") -> list[str]:
    # As `uvicorn[standard]` runs it (uvloop, httptools), on the project's ASGI application.
    command = [sys.executable, "-m", "uvicorn", app, "--host", host, "--port", str(port)]
    return [*command, "--log-level", "warning"]


def uvicorn(tmp_path: Path, *, app: str = DEFAULT_APP, **extra_env: str) -> AbstractContextManager[Server]:
    return serving(uvicorn_command, tmp_path, app, extra_env)


def daphne_app(tmp_path: Path, app: str, **extra_env: str) -> AbstractContextManager[Server]:
    """`python -m echo.server` serving another ASGI application (Django's stock handler, say)."""
    return serving(daphne_command, tmp_path, app, extra_env)


@contextmanager
def serving(
    command: Callable[[str, int, str], list[str]], tmp_path: Path, app: str, extra_env: dict[str, str]
) -> Iterator[Server]:
    """`command(host, port, app)` on a free loopback port, with a migrated database of its own."""
    env = server_env(tmp_path / "db.sqlite3", **extra_env)
    migrate(env)
    port = free_port()
    with running(command("127.0.0.1", port, app), tmp_path, host="127.0.0.1", port=port, env=env) as server:
        yield server


@contextmanager
def runserver(tmp_path: Path, **extra_env: str) -> Iterator[Server]:
    env = server_env(tmp_path / "db.sqlite3", **extra_env)
    migrate(env)
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with running(command, tmp_path, host="127.0.0.1", port=port, env=env) as server:
        yield server
