"""A sync stream view's request, as `echo.sse.glue.asgi.ASGIHandler` runs it under Daphne: its request
phase and its `request_finished` on one of the kept threads, as Django runs both on the request's
thread (whose database connections `close_old_connections` then looks at)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from httpx_sse import connect_sse

from ..servers import Server, wait_for

pytestmark = pytest.mark.live


def threads(client: httpx.Client, token: str) -> dict[str, str]:
    noted = client.get("/_probe/threads", params={"token": token}).json()
    assert isinstance(noted, dict)
    return noted


@pytest.mark.parametrize("ending", ["the stream ends", "the client leaves", "a plain response"])
def test_request_finished_runs_on_the_thread_of_the_request_phase(server: Server, ending: str) -> None:
    token = uuid.uuid4().hex
    with httpx.Client(base_url=server.url, timeout=5) as client:
        params: dict[str, str | int] = {"token": token, "n": 2}
        if ending == "a plain response":
            params["plain"] = 1
            assert client.get("/_probe/threads_stream", params=params).json() == {"plain": True}
        elif ending == "the stream ends":
            params["end"] = 1
            with connect_sse(client, "GET", "/_probe/threads_stream", params=params) as source:
                assert [event.data for event in source.iter_sse()][:2] == ["0", "1"]  # then `completed`
        else:
            with connect_sse(client, "GET", "/_probe/threads_stream", params=params) as source:
                assert next(source.iter_sse()).data == "0"

        wait_for(
            lambda: "finished" in threads(client, token),
            timeout=5,
            what="request_finished of the probe's stream",
        )
        noted = threads(client, token)
    assert noted["view"].startswith("echo-sync-")
    assert noted["finished"] == noted["view"]
