"""`echo.client.policy` on a stream that completes and on a server that replays: `completed` ends
the stream, a 204 ends it, and an event yielded once is never yielded again on the same stream."""

from __future__ import annotations

import pytest

from echo.client import Reconnect
from echo.client.policy import Action, SeenIds, Session
from echo.demo.contracts import SSE2, SSE3
from echo.demo.streams import Echo, ReverseEcho
from echo.sse.wire.control import Completed

ECHO = '{"message":"hi","created_at":"2026-01-01T00:00:00"}'
COMPLETED = b'event: completed\ndata: {"reason":"completed"}\n\n'


def session(*events: type) -> Session:
    return Session(events, "", Reconnect(jitter=0))  # type: ignore[arg-type]


def echoes(*ids: int, name: str = "echo") -> bytes:
    return b"".join(f"id: {n}\nevent: {name}\ndata: {ECHO}\n\n".encode() for n in ids)


def connection(reading: Session, body: bytes) -> list[object]:
    """One connection answered 200 with `body`: the events it yields."""
    reading.connect({})
    assert reading.opened(200, {"content-type": "text/event-stream"}) is Action.YIELD
    return list(reading.feed(body))


def test_completed_stops_the_stream_for_good() -> None:
    reading = session(*SSE2.events)

    items = connection(reading, echoes(0, 1) + COMPLETED + echoes(2))

    assert len(items) == 2
    assert reading.stopped
    assert isinstance(reading.ended_by, Completed)
    assert reading.last_event_id == "1"  # `completed` carries no id: the position stays


def test_completed_is_yielded_to_a_caller_that_lists_it_and_still_stops() -> None:
    reading = session(Echo, Completed)

    items = connection(reading, echoes(0) + COMPLETED)

    assert [type(item) for item in items] == [Echo, Completed]
    assert reading.stopped


def test_a_204_ends_the_stream_without_an_event() -> None:
    reading = session(Echo)
    reading.connect({})

    assert reading.opened(204, {}) is Action.STOP
    assert reading.stopped
    assert reading.ended_by is None


def test_events_replayed_after_a_reconnect_are_dropped() -> None:
    reading = session(Echo)
    assert len(connection(reading, echoes(0, 1, 2))) == 3
    assert reading.reconnect_after() > 0

    headers = reading.connect({})
    assert headers["Last-Event-ID"] == "2"
    reading.opened(200, {"content-type": "text/event-stream"})
    # A server that ignores Last-Event-ID: from the start again.
    again = list(reading.feed(echoes(0, 1, 2, 3, 4)))

    assert len(again) == 2
    assert reading.seen.replayed == 3
    assert reading.last_event_id == "4"


def test_a_replay_cut_short_keeps_the_position_it_had_reached() -> None:
    reading = session(Echo)
    connection(reading, echoes(0, 1, 2, 3))

    assert connection(reading, echoes(0, 1)) == []
    assert reading.last_event_id == "3"  # a next reconnect asks for what comes after 3, not 1


def test_a_connection_that_only_replays_is_a_failed_attempt() -> None:
    reading = session(Echo)
    connection(reading, echoes(0, 1))
    reading.reconnect_after()

    connection(reading, echoes(0, 1))
    reading.reconnect_after()

    assert reading.failures == 1


def test_one_number_under_two_names_is_two_events() -> None:
    # The article's /sse3 numbers each source from 0: `echo` 0 and `reverse_echo` 0 both arrive.
    reading = session(*SSE3.events)

    items = connection(reading, echoes(0) + echoes(0, name="reverse_echo") + echoes(1))

    assert [type(item) for item in items] == [Echo, ReverseEcho, Echo]


def test_an_event_without_an_id_line_of_its_own_is_never_dropped() -> None:
    # The spec carries the last id over to an event without one: that is not a repeat.
    reading = session(Echo)
    body = echoes(0) + f"event: echo\ndata: {ECHO}\n\n".encode() * 2

    assert len(connection(reading, body)) == 3
    assert reading.seen.replayed == 0


def test_an_unknown_event_is_dropped_when_replayed_too() -> None:
    reading = session(Echo)

    items = connection(reading, b"id: 7\nevent: later\ndata: x\n\n" * 2)

    assert len(items) == 1
    assert reading.seen.replayed == 1


@pytest.mark.parametrize(
    ("count", "chars", "kept"),
    [
        (3, 1000, ["e3", "e4", "e5"]),  # the oldest forgotten past `count`
        (100, 12, ["e4", "e5"]),  # ...or past `chars` characters of names and ids
    ],
)
def test_the_ids_remembered_are_bounded(count: int, chars: int, kept: list[str]) -> None:
    seen = SeenIds(count, chars)
    for n in range(6):
        seen.add(("echo", f"e{n}"))
    seen.add(("echo", "e5"))  # already there: not counted twice

    assert [f"e{n}" for n in range(6) if ("echo", f"e{n}") in seen] == kept
