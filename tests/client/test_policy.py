"""`echo.client.policy`: what the client does with each event and each answer, without I/O."""

from __future__ import annotations

import math
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from httpx_sse import EventSource

from echo.client import (
    ClientError,
    EventTooLarge,
    NotAnEventStream,
    Reconnect,
    ReconnectFailed,
    StreamRefused,
    UnknownEvent,
)
from echo.client.policy import (
    ERROR_BODY_LIMIT,
    SSE_HEADERS,
    Action,
    EventDecoder,
    Inflater,
    Session,
    answer,
    retry_after,
)
from echo.demo.contracts import SSE3
from echo.demo.streams import Echo, ReverseEcho
from echo.sse.wire.control import StreamReset
from echo.sse.wire.endings import EndReason, Then


def session(*events: type, policy: Reconnect | None = None) -> Session:
    return Session(events, "", policy or Reconnect(jitter=0))  # type: ignore[arg-type]


def test_declared_events_are_typed_and_unknown_ones_kept_as_read() -> None:
    reading = session(*SSE3.events)

    action, echo = reading.receive(
        "echo", '{"message":"hi","created_at":"2026-01-01T00:00:00"}', "echo:0", None
    )
    assert action is Action.YIELD
    assert isinstance(echo, Echo)
    assert echo.data.message == "hi"
    action, other = reading.receive("later", "x", "echo:0", None)
    assert (action, other) == (Action.YIELD, UnknownEvent("later", "x", "echo:0"))
    assert reading.last_event_id == "echo:0"


def test_a_block_with_only_retry_or_id_is_not_an_event_but_moves_the_position() -> None:
    reading = session(Echo)

    assert reading.receive("message", "", "7", 250) == (Action.SKIP, None)
    assert (reading.last_event_id, reading.retry_ms) == ("7", 250)


def test_control_events_mean_what_they_say() -> None:
    reading = session(Echo)
    end = '{"reason":"%s"}'

    assert reading.receive("shutdown", end % "server_shutdown", "3", 100)[0] is Action.RECONNECT
    assert reading.retry_ms == 100
    assert (
        reading.receive("stream-error", '{"condition":"overflow","text":"x"}', "3", None)[0]
        is Action.RECONNECT
    )
    assert reading.receive("stream-open", "", "a:1", None) == (Action.SKIP, None)
    assert reading.receive("stream-reset", '{"channels":["a"]}', "a:0", None) == (Action.SKIP, None)
    assert reading.gaps == 1
    action, _ = reading.receive("terminated", end % "terminated", "3", 3000)
    assert action is Action.STOP
    assert reading.ended_by is not None
    assert reading.ended_by.event_name == "terminated"


@pytest.mark.parametrize("reason", [r for r in EndReason if r.event is not None], ids=str)
def test_each_terminal_event_does_what_its_end_reason_says(reason: EndReason) -> None:
    reading = session(Echo)
    assert reason.event is not None
    final = reason.final_event()
    data = final.data if final is not None else '{"condition":"overflow","text":"x"}'
    expected = {Then.STOP: Action.STOP, Then.RECONNECT: Action.RECONNECT, Then.BACK_OFF: Action.RECONNECT}

    action, _ = reading.receive(reason.event.event_name, data or "", "", None)

    assert action is expected[reason.then]
    assert reading.failures == (1 if reason.then is Then.BACK_OFF else 0)  # a failed attempt


def test_a_control_event_the_caller_lists_is_yielded_too() -> None:
    reading = session(Echo, StreamReset)

    action, reset = reading.receive("stream-reset", '{"channels":["a"]}', "a:0", None)
    assert action is Action.YIELD
    assert reset == StreamReset.from_data('{"channels":["a"]}')


def test_two_types_of_one_name_are_refused() -> None:
    class Other(Echo):
        event_name = "reverse_echo"

    with pytest.raises(TypeError, match="two event types are named 'reverse_echo'"):
        session(ReverseEcho, Other)


def test_failures_back_off_exponentially_from_the_servers_hint_up_to_the_cap() -> None:
    reading = session(
        Echo, policy=Reconnect(delay=1.0, multiplier=2.0, max_delay=5.0, jitter=0, max_attempts=4)
    )

    assert reading.delay() == 1.0  # a clean end: the plain delay
    delays = []
    for _ in range(4):
        reading.failed()
        delays.append(reading.delay())
    assert delays == [1.0, 2.0, 4.0, 5.0]
    assert reading.give_up()
    reading.receive("echo", '{"message":"x"}', "1", 200)  # an event: failures forgotten, hint taken
    assert (reading.failures, reading.delay()) == (0, 0.2)
    assert reading.delay(retry_after=3.0) == 3.0


def test_jitter_spreads_each_delay_below_its_value() -> None:
    reading = session(Echo, policy=Reconnect(delay=1.0, jitter=0.5))
    delays = {reading.delay() for _ in range(50)}

    assert all(0.5 <= d <= 1.0 for d in delays)
    assert len(delays) > 40


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (200, Action.YIELD),
        (204, Action.STOP),
        (503, Action.RECONNECT),
        (429, Action.RECONNECT),
        (502, Action.RECONNECT),
        (400, Action.SKIP),
        (403, Action.SKIP),
        (404, Action.SKIP),
    ],
)
def test_answers(status: int, action: Action) -> None:
    assert answer(status, "") is action


def test_retry_after_reads_seconds_only() -> None:
    assert (retry_after("3"), retry_after(None), retry_after("soon")) == (3.0, None, None)


def test_a_policy_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="not a usable reconnection policy"):
        Reconnect(jitter=2)
    with pytest.raises(ValueError, match="not a usable reconnection policy"):
        Reconnect(min_delay=-1)
    with pytest.raises(ValueError, match="not a usable reconnection policy"):
        Reconnect(max_attempts=0)


def test_the_public_surface_is_sorted_and_complete() -> None:
    import echo.client

    assert echo.client.__all__ == sorted(set(echo.client.__all__))
    assert all(hasattr(echo.client, name) for name in echo.client.__all__)


# The decoder: the event-stream format from bytes, bounded.

STREAMS = [
    b"data: one\n\n",
    b"event: echo\nid: 7\ndata: {}\n\n",
    b"data: a\ndata: b\r\ndata:c\rdata:  d\r\n\r\n",
    b": comment\n\nretry: 250\n\nid: 3\n\n\n",
    b"data\n\nevent\n\nid\n\n",
    b"id: a\0b\ndata: x\n\nfield: ignored\ndata: y\n\n",
    b"retry: 12x\ndata: z\n\nretry: 007\n\n",
    b"data: caf\xc3\xa9 \xff\n\n",
    b"data: no blank line at the end\n",
    b"data: no line end",
]


def decoded(chunks: list[bytes], limit: int = 1 << 20) -> list[tuple[str, str, str, int | None]]:
    decoder = EventDecoder(limit)
    return [(e.event, e.data, e.id, e.retry) for chunk in chunks for e in decoder.feed(chunk)]


def by_httpx_sse(stream: bytes) -> list[tuple[str, str, str, int | None]]:
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stream)
    return [(e.event, e.data, e.id, e.retry) for e in EventSource(response).iter_sse()]


@pytest.mark.parametrize("stream", STREAMS)
def test_the_decoder_reads_what_httpx_sse_reads_however_the_bytes_are_split(stream: bytes) -> None:
    expected = by_httpx_sse(stream)

    assert decoded([stream]) == expected
    assert decoded([stream[n : n + 1] for n in range(len(stream))]) == expected
    for cut in range(len(stream) + 1):
        assert decoded([stream[:cut], stream[cut:]]) == expected


def test_a_crlf_split_across_chunks_is_one_line_end() -> None:
    assert decoded([b"data: a\r", b"\n", b"\r", b"\ndata: b\n\n"]) == [
        ("message", "a", "", None),
        ("message", "b", "", None),
    ]


def test_a_leading_byte_order_mark_is_dropped() -> None:
    assert decoded([b"\xef\xbb", b"\xbfdata: x\n\n"]) == [("message", "x", "", None)]


def test_a_retry_of_a_million_digits_costs_nothing_and_means_very_long() -> None:
    assert decoded([b"retry: " + b"9" * 1_000_000 + b"\n\n"], limit=2_000_000) == [
        ("message", "", "", 10**12)
    ]


def test_an_unended_line_past_the_limit_raises_as_it_arrives() -> None:
    decoder = EventDecoder(100)
    events = decoder.feed(b"data: fine\n\ndata: " + b"x" * 90)

    assert [e.data for e in events] == ["fine"]
    with pytest.raises(EventTooLarge) as raised:
        list(decoder.feed(b"x" * 20))
    assert raised.value.limit == 100


def test_an_event_of_many_short_lines_past_the_limit_raises() -> None:
    decoder = EventDecoder(100)

    assert list(decoder.feed(b"data: " + b"y" * 43 + b"\n" + b"data: " + b"y" * 43 + b"\n\n")) != []
    with pytest.raises(EventTooLarge):
        list(decoder.feed(b"data: " + b"y" * 43 + b"\n" + b"data: " + b"y" * 50 + b"\n"))


def test_comments_and_blank_lines_do_not_count_towards_an_event() -> None:
    decoder = EventDecoder(100)
    pings = b": ping " + b"p" * 80 + b"\n"

    assert [e.data for e in decoder.feed(pings * 50 + b"data: after\n" + pings * 50 + b"\n")] == ["after"]


# A connection's life, as the drivers run it.


def test_a_connection_that_delivers_no_event_is_a_failed_attempt() -> None:
    reading = session(Echo, policy=Reconnect(delay=0.5, jitter=0, max_attempts=2))
    ok = {"content-type": "text/event-stream"}

    for attempt in (1, 2):
        reading.connect({})
        assert reading.opened(200, ok) is Action.YIELD
        assert list(reading.read(b"retry: 0\n\n: comment\n\n")) == []
        if attempt == 1:
            assert reading.reconnect_after() == 0.1  # retry: 0, raised to the floor
    with pytest.raises(ReconnectFailed) as failed:
        reading.reconnect_after()
    assert (failed.value.attempts, failed.value.cause) == (2, "the server sent no event")


def test_a_connection_that_delivers_an_event_resets_the_failures() -> None:
    reading = session(Echo, policy=Reconnect(jitter=0, max_attempts=2))
    reading.failed()

    headers = reading.connect({"X-Mine": "1"})
    reading.opened(200, {"content-type": "text/event-stream"})
    assert [type(e) for e in reading.read(b'event: other\nid: 4\ndata: {"a":1}\n\n')] == [UnknownEvent]
    reading.reconnect_after()  # does not give up
    assert reading.failures == 0
    assert headers == {**SSE_HEADERS, "X-Mine": "1"}
    assert reading.connect({})["Last-Event-ID"] == "4"


def test_error_events_in_a_row_back_off_and_give_up() -> None:
    reading = session(Echo, policy=Reconnect(delay=1.0, jitter=0, max_attempts=3))
    error = b'event: error\ndata: {"reason":"error"}\n\n'

    delays = []
    for _ in range(2):
        reading.connect({})
        reading.opened(200, {"content-type": "text/event-stream"})
        assert list(reading.read(error)) == []
        assert reading.action is Action.RECONNECT
        delays.append(reading.reconnect_after())
    assert delays == [1.0, 2.0]
    reading.connect({})
    reading.opened(200, {"content-type": "text/event-stream"})
    list(reading.read(error))
    with pytest.raises(ReconnectFailed):
        reading.reconnect_after()


def test_a_refusals_body_is_kept_to_64_kib() -> None:
    reading = session(Echo)
    reading.connect({})

    assert reading.opened(400, {"content-type": "text/plain"}) is Action.SKIP
    assert list(reading.feed(b"a" * 40_000)) == []
    assert reading.reading
    assert list(reading.feed(b"b" * 40_000)) == []
    assert not reading.reading  # read no more: leaving the response closes its connection
    with pytest.raises(StreamRefused) as refused:
        reading.finish()
    assert refused.value.status == 400
    assert len(refused.value.body) == ERROR_BODY_LIMIT == 65536
    assert refused.value.body.endswith("b")


def test_a_2xx_of_another_type_is_not_an_event_stream() -> None:
    reading = session(Echo)
    reading.connect({})

    with pytest.raises(NotAnEventStream):
        reading.opened(200, {"content-type": "text/html"})


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 12 ", 12.0),
        ("1000000000000", 1e12),
        ("9" * 400, math.inf),
        ("-5", None),
        ("1.5", None),
        ("1e400", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Wed, 21 Oct 99999 07:28:00 GMT", None),
    ],
)
def test_retry_after_in_every_form(header: str | None, seconds: float | None) -> None:
    assert retry_after(header) == seconds


def test_retry_after_as_a_date() -> None:
    later = retry_after(format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True))

    assert later is not None
    assert 100 < later <= 120


@pytest.mark.parametrize("header", ["1000000000000", "9" * 400, "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_retry_after_waits_at_most_the_maximum_delay(header: str) -> None:
    reading = session(Echo, policy=Reconnect(max_delay=7.0, jitter=0))

    assert reading.delay(retry_after(header)) == 7.0


def test_the_floor_holds_whatever_the_hint_or_the_policy() -> None:
    reading = session(Echo, policy=Reconnect(delay=0.0, jitter=1.0, min_delay=0.25, max_delay=0.1))
    reading.receive("message", "", "", 0)

    assert {reading.delay() for _ in range(20)} == {0.25}
    assert Reconnect().min_delay == 0.1


def test_thousands_of_failures_in_a_row_stay_at_the_maximum_delay() -> None:
    reading = session(Echo, policy=Reconnect(max_delay=5.0, jitter=0))
    for _ in range(5000):
        reading.failed()

    assert reading.delay() == 5.0


def test_a_compressed_body_is_inflated_a_bounded_piece_at_a_time() -> None:
    raw = zlib.compress(bytes(1_000_000))
    pieces = list(Inflater("gzip", piece=4096).pieces(raw))

    assert max(map(len, pieces)) == 4096
    assert b"".join(pieces) == bytes(1_000_000)
    assert list(Inflater(" Identity ").pieces(b"as is")) == [b"as is"]


def test_a_coding_it_cannot_read_or_a_body_that_does_not_inflate_is_a_client_error() -> None:
    with pytest.raises(ClientError, match="Content-Encoding 'br'"):
        Inflater("br")
    with pytest.raises(ClientError, match="does not inflate"):
        list(Inflater("deflate").pieces(b"not deflate at all"))
