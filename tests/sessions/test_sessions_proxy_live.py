"""What a session row keeps of a request a client controls, served the way the README serves in
production (`python -m echo.server --proxy-headers`), on SQLite and on PostgreSQL (a server of
the test's own, tests/postgres.py): the forwarded address validated, credentials out of the
query, and a batch never lost for one row."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..loops import run
from ..postgres import Postgres, postgres_for_test
from ..servers import (
    Server,
    admin_login,
    daphne_command,
    free_port,
    migrate,
    run_python,
    running,
    server_env,
    wait_for,
)
from ..services import session_rows

pytestmark = pytest.mark.live

CREATE_ADMIN = """
from django.contrib.auth.models import User
User.objects.create_superuser("root", password="pw-root-7741")
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_for_test() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def proxied(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """`python -m echo.server --proxy-headers` with a migrated database of its own."""
    extra: dict[str, str] = {}
    if request.param == "postgresql":
        pg: Postgres = request.getfixturevalue("postgres")
        extra["DATABASE_URL"] = pg.url(f"echo_{tmp_path.name.replace('-', '_').lower()}"[:60])
    env = server_env(tmp_path / "db.sqlite3", **extra)
    migrate(env)
    port = free_port()
    command = [*daphne_command("127.0.0.1", port), "--proxy-headers"]
    with running(command, tmp_path, host="127.0.0.1", port=port, env=env) as server:
        yield server


def test_a_forged_forwarded_address_is_recorded_as_no_client_and_every_honest_session_is_kept(
    proxied: Server,
) -> None:
    """Five streams from proxied addresses and one whose `X-Forwarded-For` is no address, at once
    (one batch of the writer): six rows, the forged one without a client. PostgreSQL's inet
    column refused the forged value and took the whole batch with it; SQLite stored it."""
    forwarded = [f"10.0.0.{n}" for n in range(1, 6)] + ["not-an-ip<script>"]

    async def main() -> list[int]:
        async with httpx.AsyncClient(base_url=proxied.url, timeout=10) as client:

            async def one(n: int, address: str) -> int:
                params = {"message": "m", "limit": 1, "interval": 0, "tag": f"p{n}"}
                response = await client.get("/sse2", params=params, headers={"X-Forwarded-For": address})
                return response.status_code

            return list(await asyncio.gather(*(one(n, a) for n, a in enumerate(forwarded))))

    assert run(main()) == [200] * 6

    rows = wait_for(lambda: (r := session_rows(proxied)) and len(r) >= 6 and r, what="six session rows")
    clients = {row["query"].rpartition("tag=")[2]: row["client"] for row in rows}
    assert clients == {**{f"p{n}": f"10.0.0.{n + 1}" for n in range(5)}, "p5": None}
    assert all(row["end_reason"] == "completed" for row in rows)
    assert "dropped" not in proxied.log(), proxied.log()


def test_a_token_in_a_streams_query_is_neither_recorded_nor_shown_in_the_admin(proxied: Server) -> None:
    secret = uuid.uuid4().hex
    with httpx.Client(base_url=proxied.url, timeout=10) as client:
        params = {"token": secret, "message": "hi", "limit": 1, "interval": 0}
        assert client.get("/sse2", params=params).status_code == 200

        row = wait_for(lambda: session_rows(proxied, "path = '/sse2'"), what="the session row")[0]
        assert row["query"] == "token=[redacted]&message=hi&limit=1&interval=0"

        run_python("manage.py", "shell", "-c", CREATE_ADMIN, env=proxied.env)
        admin_login(client, "root", "pw-root-7741")
        page = client.get(f"/admin/echo_sessions/streamsession/{uuid.UUID(row['id'])}/change/")
        assert page.status_code == 200
        assert "token=[redacted]&amp;message=hi" in page.text
        assert secret not in page.text


def test_a_token_in_a_streams_query_is_not_in_the_access_log(proxied: Server) -> None:
    secret = uuid.uuid4().hex
    httpx.get(f"{proxied.url}/sse2", params={"token": secret, "message": "hi", "limit": 1}, timeout=10)
    wait_for(lambda: "GET /sse2?" in proxied.log(), what="the access log line")
    assert secret not in proxied.log()
    assert "GET /sse2?token=[redacted]&message=hi" in proxied.log()
