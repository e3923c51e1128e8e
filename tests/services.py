"""Real backing services for live tests: a redis-server of the test's own, stopped by its pid.

A missing binary skips the test, unless `ECHO_REQUIRE_SERVICES=1` says the run must not skip
(CI images that are supposed to have the service), in which case it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from .servers import Server, free_port, wait_for

REDIS_MISSING = "redis-server is not installed (apt-get install redis-server)"


def require(binary: str, reason: str) -> str:
    """The binary's path; skip (or fail, with ECHO_REQUIRE_SERVICES=1) when it is not installed."""
    found = shutil.which(binary)
    if found is None:
        if os.environ.get("ECHO_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server on one loopback port, no persistence, that can be stopped and started again
    on the same port (an outage: what it held is gone, as after a real restart)."""

    def __init__(self, tmp_path: Path) -> None:
        self.binary = require("redis-server", REDIS_MISSING)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = tmp_path / f"redis-{self.port}"
        self.workdir.mkdir()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.workdir)]
        with (self.workdir / "redis.log").open("ab") as log:
            process = self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"redis-server exited with {process.returncode}")
            return _answers_ping(self.port)

        wait_for(ready, timeout=10.0, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def redis_server(tmp_path: Path) -> Iterator[str]:
    """A redis-server on a free loopback port, no persistence; yields its `redis://` URL."""
    with restartable_redis(tmp_path) as server:
        yield server.url


@contextmanager
def restartable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def session_rows(server: Server, where: str = "TRUE", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """`echo_sessions_streamsession` rows of the server's database, read directly (no Django
    involved): its SQLite file, or its PostgreSQL database (values as SQLite gives them: text)."""
    if server.env.get("DATABASE_URL", "").startswith("postgres"):
        import psycopg
        from psycopg.rows import dict_row

        sql = f"SELECT * FROM echo_sessions_streamsession WHERE {where}".replace("?", "%s")
        with psycopg.connect(server.env["DATABASE_URL"], row_factory=dict_row) as pg:
            found = pg.execute(sql, params).fetchall()
        return [{key: _as_sqlite(value) for key, value in row.items()} for row in found]
    with closing(sqlite3.connect(server.env["ECHO_SQLITE_PATH"], timeout=10)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(f"SELECT * FROM echo_sessions_streamsession WHERE {where}", params).fetchall()
    return [dict(row) for row in rows]


def _as_sqlite(value: Any) -> Any:
    """A PostgreSQL value as the SQLite column would read: UUIDs as 32 hex digits, datetimes as text."""
    import datetime
    import ipaddress
    import uuid

    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).replace(tzinfo=None).isoformat(sep=" ")
    return value
