"""Resuming the echo streams with Last-Event-ID, over HTTP against a real Daphne process.

/sse and /sse2 number on after a numeric id. /sse3's plain per-source ids cannot name a position
of the merged stream, so it resumes only from the composite ids (`echo:N,reverse_echo:M`) that it
sends with `?resumable=1` or once resumed; a plain number there is ignored.

`limit` counts the whole stream, across reconnections: a stream resumed after its last event has
nothing more to send and answers 204 No Content, which stops a browser's EventSource.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from ..servers import Server

pytestmark = pytest.mark.live

FAST = {"message": "hello", "interval": 0}


def read(
    server: Server, path: str, params: dict[str, Any], last_event_id: str | None = None
) -> list[ServerSentEvent]:
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    with (
        httpx.Client(base_url=server.url, timeout=10) as client,
        connect_sse(client, "GET", path, params=params, headers=headers) as source,
    ):
        assert source.response.status_code == 200
        *events, last = source.iter_sse()
        assert (last.event, last.data) == ("completed", '{"reason":"completed"}')
        return events


def first_event(
    server: Server, path: str, params: dict[str, Any], last_event_id: str | None = None
) -> ServerSentEvent:
    """The first event of an endless stream (which is then closed)."""
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    with (
        httpx.Client(base_url=server.url, timeout=10) as client,
        connect_sse(client, "GET", path, params=params, headers=headers) as source,
    ):
        assert source.response.status_code == 200
        return next(source.iter_sse())


def composite(event_id: str) -> dict[str, int]:
    """`echo:3,reverse_echo:2` -> {"echo": 3, "reverse_echo": 2}, checking its shape."""
    assert re.fullmatch(r"(echo|reverse_echo):\d+(,(echo|reverse_echo):\d+)*", event_id), event_id
    return {name: int(number) for name, _, number in (part.partition(":") for part in event_id.split(","))}


def per_source(events: list[ServerSentEvent]) -> dict[str, list[int]]:
    """Each source's own numbers, in the order its events came, from composite ids."""
    numbers: dict[str, list[int]] = {}
    for event in events:
        numbers.setdefault(event.event, []).append(composite(event.id)[event.event])
    return numbers


@pytest.mark.parametrize("path", ["/sse", "/sse2"])
def test_numbered_stream_goes_on_after_the_last_event_id(server: Server, path: str) -> None:
    events = read(server, path, {**FAST, "limit": 9}, last_event_id="5")

    assert [(e.event, e.id) for e in events] == [("echo", "6"), ("echo", "7"), ("echo", "8")]


@pytest.mark.parametrize("path", ["/sse", "/sse2"])
def test_a_limited_stream_resumed_goes_on_to_its_limit_and_no_further(server: Server, path: str) -> None:
    first = read(server, path, {**FAST, "limit": 5})
    resumed = read(server, path, {**FAST, "limit": 5}, last_event_id="2")

    assert [e.id for e in first] == ["0", "1", "2", "3", "4"]
    assert [e.id for e in resumed] == ["3", "4"]


@pytest.mark.parametrize(
    ("path", "params", "last_event_id"),
    [
        ("/sse", {"limit": 5}, "4"),
        ("/sse2", {"limit": 5}, "4"),
        ("/sse2", {"limit": 5}, "9"),  # past the end: nothing more either
        ("/sse2", {"limit": 5, "lastEventId": "4"}, None),
        ("/sse3", {"limit": 5}, "echo:2,reverse_echo:1"),
        ("/sse3", {"limit": 5, "resumable": 1}, "echo:6"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_stream_resumed_with_nothing_more_to_send_answers_204(
    server: Server, path: str, params: dict[str, Any], last_event_id: str | None, method: str
) -> None:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    response = httpx.request(method, f"{server.url}{path}", params={**FAST, **params}, headers=headers)

    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers


def test_sse_resumed_keeps_its_python_dict_data(server: Server) -> None:
    (event,) = read(server, "/sse", {**FAST, "limit": 43}, last_event_id="41")

    assert event.id == "42"
    assert ast.literal_eval(event.data)["message"] == "hello"


def test_sse2_resumed_keeps_its_typed_json_data(server: Server) -> None:
    (event,) = read(server, "/sse2", {**FAST, "limit": 2}, last_event_id="0")

    assert event.id == "1"
    assert json.loads(event.data)["message"] == "hello"


@pytest.mark.parametrize("path", ["/sse", "/sse2"])
@pytest.mark.parametrize(
    ("params", "header", "first"),
    [
        ({"lastEventId": "9"}, None, "10"),  # what an EventSource polyfill sends on reconnect
        ({"lastEventId": "9"}, "5", "6"),  # the header wins over the query
        ({"lastEventId": " 5 "}, None, "6"),
        ({}, "", "0"),
        ({}, "999999999999999999", "1000000000000000000"),
    ],
)
def test_numbered_stream_reads_the_id_from_header_or_query(
    server: Server, path: str, params: dict[str, str], header: str | None, first: str
) -> None:
    event = first_event(server, path, {**FAST, **params}, last_event_id=header)

    assert event.id == first


def test_sse3_shows_the_references_plain_per_source_ids_by_default(server: Server) -> None:
    events = read(server, "/sse3", {**FAST, "limit": 8})

    numbers: dict[str, list[str]] = {}
    for event in events:
        numbers.setdefault(event.event, []).append(event.id)
    assert numbers == {"echo": ["0", "1", "2", "3"], "reverse_echo": ["0", "1", "2", "3"]}


def test_sse3_ignores_a_plain_numeric_last_event_id_and_starts_over(server: Server) -> None:
    events = read(server, "/sse3", {**FAST, "limit": 4}, last_event_id="5")

    assert sorted((e.event, e.id) for e in events) == [
        ("echo", "0"),
        ("echo", "1"),
        ("reverse_echo", "0"),
        ("reverse_echo", "1"),
    ]


def test_sse3_resumable_ids_name_every_sources_position(server: Server) -> None:
    events = read(server, "/sse3", {**FAST, "limit": 8, "resumable": 1})

    assert per_source(events) == {"echo": [0, 1, 2, 3], "reverse_echo": [0, 1, 2, 3]}
    seen: dict[str, int] = {}
    for event in events:
        seen[event.event] = composite(event.id)[event.event]
        assert composite(event.id) == seen  # the id says where every source has got to


@pytest.mark.parametrize("interval", [0, 0.02])
def test_sse3_resumed_from_a_composite_id_goes_on_after_each_source_without_a_repeat(
    server: Server, interval: float
) -> None:
    params = {"message": "hello", "interval": interval}
    first = read(server, "/sse3", {**params, "limit": 7, "resumable": 1})
    # A client resumes with the last id it saw; no `resumable` needed from then on. The limit
    # counts the whole stream: 6 more, then 5 more.
    second = read(server, "/sse3", {**params, "limit": 13}, last_event_id=first[-1].id)
    third = read(server, "/sse3", {**params, "limit": 18, "lastEventId": second[-1].id})

    assert (len(first), len(second), len(third)) == (7, 6, 5)

    before, after, later = per_source(first), per_source(second), per_source(third)
    for source in ("echo", "reverse_echo"):
        numbers = before.get(source, []) + after.get(source, []) + later.get(source, [])
        assert numbers == list(range(len(numbers))), (source, before, after, later)
    assert composite(second[0].id)[second[0].event] == composite(first[-1].id)[second[0].event] + 1


def test_sse3_resumed_from_one_sources_id_starts_the_other_from_zero(server: Server) -> None:
    events = read(server, "/sse3", {**FAST, "limit": 11}, last_event_id="echo:6")  # 7 sent, 4 more

    assert per_source(events) == {"echo": [7, 8], "reverse_echo": [0, 1]}


@pytest.mark.parametrize(
    ("path", "last_event_id"),
    [
        ("/sse", "abc"),
        ("/sse", "-1"),
        ("/sse", "1.5"),
        ("/sse", "echo:3"),
        ("/sse", "1" * 19),
        ("/sse2", "abc"),
        ("/sse2", "5 6"),
        ("/sse2", "0x10"),
        ("/sse2", "1" * 19),
        ("/sse3", "abc"),
        ("/sse3", "echo:x"),
        ("/sse3", "echo:1,reverse_echo"),
        ("/sse3", "echo:1;reverse_echo:2"),
        ("/sse3", "-1"),
    ],
)
def test_an_id_the_stream_never_sent_is_a_400_json(server: Server, path: str, last_event_id: str) -> None:
    for request in (
        {"params": {**FAST, "limit": 1}, "headers": {"Last-Event-ID": last_event_id}},
        {"params": {**FAST, "limit": 1, "lastEventId": last_event_id}},
    ):
        response = httpx.get(f"{server.url}{path}", timeout=10, **request)

        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["error"] == "invalid_last_event_id"
        assert repr(last_event_id) in body["detail"]
