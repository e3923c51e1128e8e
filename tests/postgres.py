"""Debian's PostgreSQL server for the suite, started and stopped here.

Its own data directory in a temporary folder, a free loopback port, trust authentication on
loopback only, run as an unprivileged user (`postgres` when the suite runs as root, as in CI:
the server refuses to run as root), stopped by its pid. `python -m tests.postgres [pytest args]`
runs the suite against it with `DATABASE_URL` set (`make test-postgres`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .servers import free_port, wait_for

MISSING = "PostgreSQL's server is not installed (apt-get install postgresql)"
SUPERUSER = "echo"


def bindir() -> Path | None:
    """The newest installed server's binaries (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Postgres:
    def __init__(self, folder: Path, port: int, binaries: Path) -> None:
        self.folder = folder
        self.port = port
        self.binaries = binaries
        self.data = folder / "data"
        self.log_path = folder / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._user: dict[str, int] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres" if _has_user("postgres") else "nobody")
            self._user = {"user": entry.pw_uid, "group": entry.pw_gid}
            os.chown(folder, entry.pw_uid, entry.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.binaries / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            extra_groups=[] if self._user else None,
            **self._user,  # type: ignore[arg-type]
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self, *, durable: bool = False) -> None:
        # A test server: durability is not what is tested (a restart here is clean). The bench's
        # publish latency asks for PostgreSQL's defaults (`durable`): a commit waits for the disk.
        fast = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(self.binaries / "postgres"),
                    *("-D", str(self.data), "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.folder)),
                    *(() if durable else fast),
                    *("-c", "max_connections=400"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                extra_groups=[] if self._user else None,
                **self._user,  # type: ignore[arg-type]
            )
        wait_for(self.answers, timeout=30, what=f"PostgreSQL on port {self.port}")

    def answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"postgres exited with {self.process.returncode}:\n{self.log()}")
        import psycopg

        try:
            psycopg.connect(self.url(), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """A fast shutdown (SIGINT): open connections are ended, the data is kept."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[Postgres]:
    binaries = bindir()
    if binaries is None:
        raise RuntimeError(MISSING)
    folder = Path(tempfile.mkdtemp(prefix="echo-postgres-"))
    server = Postgres(folder, free_port(), binaries)
    try:
        server.init()
        server.start(durable=durable)
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def postgres_for_test() -> contextlib.AbstractContextManager[Postgres]:
    """A test's own PostgreSQL server: the test skips without one, or fails under
    ECHO_REQUIRE_SERVICES=1 (CI)."""
    if bindir() is None:
        import pytest

        if os.environ.get("ECHO_REQUIRE_SERVICES") == "1":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return postgres_server()


def main(argv: list[str]) -> int:
    import psycopg

    with postgres_server() as server:
        with psycopg.connect(server.url(), autocommit=True) as db:
            db.execute("CREATE DATABASE echo")
        env = {**os.environ, "DATABASE_URL": server.url("echo")}
        print(
            f"PostgreSQL {server.binaries.parent.name} on 127.0.0.1:{server.port} (pid {server.process.pid})"
        )  # type: ignore[union-attr]
        return subprocess.run([sys.executable, "-m", "pytest", *argv], env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
