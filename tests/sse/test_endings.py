"""The table of end reasons (`echo.sse.wire.endings`): which end wins, each reason's final event, and
what reads the table (control events, the client's policy, the sessions model)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from echo.sse.wire.control import (
    CONTROL_EVENTS,
    Completed,
    Error,
    Shutdown,
    SlowClient,
    StreamFailed,
    Terminated,
)
from echo.sse.wire.endings import EndReason, Retry, Then, decide_end

R = EndReason

# (what happened, in order) -> the reason recorded. The first of each group is what the stream's
# own loop saw; a slow client and a shutdown in progress are added by the response.
DECIDE_CASES = [
    ((R.COMPLETED,), R.COMPLETED),
    ((R.CLIENT_DISCONNECTED, R.SERVER_SHUTDOWN), R.SERVER_SHUTDOWN),
    ((R.COMPLETED, R.SERVER_SHUTDOWN), R.COMPLETED),
    ((R.ERROR, R.SERVER_SHUTDOWN), R.ERROR),
    ((R.TERMINATED, R.SERVER_SHUTDOWN), R.TERMINATED),
    ((R.FELL_BEHIND, R.SERVER_SHUTDOWN), R.FELL_BEHIND),
    ((R.SERVER_SHUTDOWN, R.SERVER_SHUTDOWN), R.SERVER_SHUTDOWN),
    ((R.CLIENT_DISCONNECTED, R.SLOW_CLIENT), R.SLOW_CLIENT),
    ((R.ERROR, R.SLOW_CLIENT), R.SLOW_CLIENT),
    ((R.COMPLETED, R.SLOW_CLIENT, R.SERVER_SHUTDOWN), R.SLOW_CLIENT),
    ((R.CLIENT_DISCONNECTED, R.SLOW_CLIENT, R.SERVER_SHUTDOWN), R.SLOW_CLIENT),
    # Equal precedence: the first to happen.
    ((R.TERMINATED, R.ERROR), R.TERMINATED),
    ((R.ERROR, R.TERMINATED), R.ERROR),
]


@pytest.mark.parametrize(("happened", "recorded"), DECIDE_CASES)
def test_decide_end_picks_the_reason_of_highest_precedence(
    happened: tuple[EndReason, ...], recorded: EndReason
) -> None:
    assert decide_end(*happened) is recorded


def test_decide_end_covers_every_reason() -> None:
    for reason in EndReason:
        assert decide_end(reason) is reason
        assert decide_end(reason, R.CLIENT_DISCONNECTED) is reason


@dataclass
class FinalRetry:
    FINAL_RETRY: int = 1000
    FINAL_RETRY_SPREAD: int = 0


@pytest.mark.parametrize(
    ("reason", "encoded"),
    [
        (R.COMPLETED, b'event: completed\ndata: {"reason":"completed"}\n\n'),
        (R.SERVER_SHUTDOWN, b'event: shutdown\ndata: {"reason":"server_shutdown"}\nretry: 1000\n\n'),
        (R.TERMINATED, b'event: terminated\ndata: {"reason":"terminated"}\nretry: 1000\n\n'),
        (R.ERROR, b'event: error\ndata: {"reason":"error"}\n\n'),
        (R.SLOW_CLIENT, b'event: slow_client\ndata: {"reason":"slow_client"}\n\n'),
    ],
)
def test_a_reason_writes_its_own_final_event_with_its_retry(reason: EndReason, encoded: bytes) -> None:
    event = reason.final_event(FinalRetry())
    assert event is not None
    assert event.encode() == encoded


@pytest.mark.parametrize("reason", [R.CLIENT_DISCONNECTED, R.FELL_BEHIND])
def test_a_reason_without_an_end_payload_event_has_no_final_event_of_its_own(reason: EndReason) -> None:
    # fell_behind's `stream-error` carries what only its source knows: the source writes it.
    assert reason.final_event(FinalRetry()) is None


def test_the_shutdown_spread_draws_each_final_retry_within_the_spread() -> None:
    retries = set()
    for _ in range(200):
        event = R.SERVER_SHUTDOWN.final_event(FinalRetry(1000, 50))
        assert event is not None
        assert event.retry is not None
        retries.add(event.retry)
    assert min(retries) >= 1000
    assert max(retries) <= 1050
    assert len(retries) > 1
    assert R.TERMINATED.retry_policy is Retry.FINAL  # a fixed value: never spread


def test_a_final_event_without_settings_carries_no_retry() -> None:
    event = R.SERVER_SHUTDOWN.final_event()
    assert event is not None
    assert event.retry is None


def test_the_rows_keep_their_values_labels_events_and_client_actions() -> None:
    # Values and labels are in the sessions model's migrations; new rows come after these.
    rows = [(r.value, r.label, r.event, r.then) for r in EndReason]
    assert rows[:7] == [
        ("completed", "completed", Completed, Then.STOP),
        ("client_disconnected", "client disconnected", None, Then.RECONNECT),
        ("server_shutdown", "server shutdown", Shutdown, Then.RECONNECT),
        ("terminated", "terminated", Terminated, Then.STOP),
        ("error", "error", Error, Then.BACK_OFF),
        ("slow_client", "slow client", SlowClient, Then.RECONNECT),
        ("fell_behind", "fell behind", StreamFailed, Then.RECONNECT),
    ]


def test_control_events_are_the_table_s_events_any_stream_may_end_with() -> None:
    listed = tuple(r.event for r in EndReason if r.event is not None and r.any_stream)
    assert listed == CONTROL_EVENTS
    assert listed[:5] == (Completed, Shutdown, Terminated, Error, SlowClient)


def test_a_completed_stream_tells_its_client_to_stop_and_carries_no_retry() -> None:
    # A client that obeys stops on the event; a browser, which does not know it, comes back once
    # at its own pace and is answered 204 (`EventStreamComplete`).
    assert R.COMPLETED.event is Completed
    assert Completed.event_name == "completed"
    assert R.COMPLETED.then is Then.STOP
    assert R.COMPLETED.retry_policy is Retry.NONE
    event = R.COMPLETED.final_event(FinalRetry())
    assert event is not None
    assert (event.event, event.id, event.retry) == ("completed", None, None)


def test_the_table_imports_without_django_settings() -> None:
    # The client imports it: reading the table must not need a configured Django.
    code = (
        "import os; os.environ.pop('DJANGO_SETTINGS_MODULE', None);"
        "from echo.sse.wire.endings import EndReason;"
        "import echo.client.policy;"
        "from django.conf import settings; assert not settings.configured;"
        "print(len(EndReason))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(EndReason))
