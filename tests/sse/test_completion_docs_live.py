"""docs/streams.md's "A stream that completes" as it stands (examples/chapters.py), served by
`python -m echo.server`: the stream ends with `completed`, resumes after a Last-Event-ID with the
source handed its position, answers 204 with nothing more to send, and refuses an id it never
sent; `echo.client` reads it to the end in one request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import connect_sse

from echo.client import Client, Reconnect, UnknownEvent

from ..embed.test_docs_examples_live import write_examples
from ..servers import ROOT, Server, daphne

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("docs")
    write_examples(folder)
    with daphne(folder, settings="tests.settings_docs", PYTHONPATH=f"{folder}:{ROOT}") as server:
        yield server


def read(server: Server, last_event_id: str | None = None) -> list[tuple[str, str, str]]:
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    with (
        httpx.Client(base_url=server.url, timeout=10) as client,
        connect_sse(client, "GET", "/chapters/", headers=headers) as source,
    ):
        assert source.response.status_code == 200
        return [(e.event, e.id, e.data) for e in source.iter_sse()]


def test_the_stream_ends_with_completed(docs_server: Server) -> None:
    assert read(docs_server) == [
        ("chapter", "0", "Arrival"),
        ("chapter", "1", "The letter"),
        ("chapter", "2", "Departure"),
        ("completed", "2", '{"reason":"completed"}'),  # no id of its own: the last one stays
    ]


def test_a_resumed_stream_goes_on_after_the_last_event_id(docs_server: Server) -> None:
    assert read(docs_server, "0") == [
        ("chapter", "1", "The letter"),
        ("chapter", "2", "Departure"),
        ("completed", "2", '{"reason":"completed"}'),
    ]


@pytest.mark.parametrize("last_event_id", ["2", "7"])
def test_nothing_more_to_send_is_a_204(docs_server: Server, last_event_id: str) -> None:
    response = httpx.get(f"{docs_server.url}/chapters/", headers={"Last-Event-ID": last_event_id}, timeout=10)

    assert (response.status_code, response.content) == (204, b"")


@pytest.mark.parametrize("last_event_id", ["x", "-1", "\u00b2", "1" * 10])
def test_an_id_it_never_sent_is_a_json_400(docs_server: Server, last_event_id: str) -> None:
    response = httpx.get(
        f"{docs_server.url}/chapters/", headers={"Last-Event-ID": last_event_id.encode()}, timeout=10
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_last_event_id"


def test_the_client_reads_it_to_the_end_in_one_request(docs_server: Server) -> None:
    with Client(docs_server.url, reconnect=Reconnect(max_attempts=3)) as client:
        stream = client.stream("/chapters/", [])
        items = list(stream)

    assert [item.data for item in items if isinstance(item, UnknownEvent)] == [
        "Arrival",
        "The letter",
        "Departure",
    ]
    assert (stream.connections, stream.last_event_id) == (1, "2")
