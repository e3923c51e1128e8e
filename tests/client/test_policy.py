"""`echo.client.policy`: what the client does with each event and each answer, without I/O."""

from __future__ import annotations

import pytest

from echo.client import Reconnect, UnknownEvent
from echo.client.policy import Action, Session, answer, retry_after
from echo.demo.contracts import SSE3
from echo.demo.streams import Echo, ReverseEcho
from echo.sse.control import StreamReset


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


def test_the_public_surface_is_sorted_and_complete() -> None:
    import echo.client

    assert echo.client.__all__ == sorted(set(echo.client.__all__))
    assert all(hasattr(echo.client, name) for name in echo.client.__all__)
