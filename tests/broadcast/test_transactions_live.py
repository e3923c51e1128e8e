"""Publishing inside a transaction: announced on commit, never when rolled back (issue 28).

Before, a publish in a transaction that rolled back was delivered at once, and the id the rollback
freed was handed to the next committed event, which the hub then dropped as already delivered.
Run on SQLite by `make test` and on PostgreSQL by `make test-postgres`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import connect_sse

from ..servers import Server, daphne

pytestmark = pytest.mark.live

DEADLINE = 10.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with daphne(tmp_path_factory.mktemp("transactions")) as running:
        yield running


def publish(http: httpx.Client, channel: str, text: str, outcome: str) -> int:
    response = http.post(
        f"/_probe/publish_in_transaction/{channel}", params={"text": text, "outcome": outcome}
    )
    assert response.status_code == 200, response.text
    event_id = response.json()["id"]
    assert isinstance(event_id, int)
    return event_id


def test_a_rolled_back_publish_reaches_no_one_and_the_next_commit_is_delivered_with_its_id(
    server: Server,
) -> None:
    channel = f"txn-{uuid.uuid4().hex[:8]}"
    with (
        httpx.Client(base_url=server.url, timeout=DEADLINE) as http,
        connect_sse(http, "GET", f"/events/{channel}/") as source,
    ):
        events = source.iter_sse()
        assert next(events).event == "stream-open"

        phantom = publish(http, channel, "phantom", "rollback")
        first = publish(http, channel, "first", "commit")
        # The rollback freed its id; the committed event takes it and is the one announced.
        assert first == phantom
        second = publish(http, channel, "second", "commit")
        assert second == first + 1

        received = [next(events), next(events)]
    assert [(event.id, json.loads(event.data)["text"]) for event in received] == [
        (f"{channel}:{first}", "first"),
        (f"{channel}:{second}", "second"),
    ]
    assert "Traceback" not in server.log()


def test_a_reader_resuming_after_a_rolled_back_id_is_replayed_the_committed_event(server: Server) -> None:
    channel = f"txn-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as http:
        kept = publish(http, channel, "kept", "commit")
        publish(http, channel, "phantom", "rollback")
        reused = publish(http, channel, "reused", "commit")
        assert reused == kept + 1
        # A browser that had been sent the phantom would resume from `kept`: it gets `reused`.
        with connect_sse(
            http, "GET", f"/events/{channel}/", headers={"Last-Event-ID": f"{channel}:{kept}"}
        ) as source:
            events = (event for event in source.iter_sse() if event.event == "chat_message")
            replayed = next(events)
    assert (replayed.id, json.loads(replayed.data)["text"]) == (f"{channel}:{reused}", "reused")
