"""Broadcast channels inside one process: publish, event types, access, Last-Event-ID and the hub.

The hub tests run a real `Hub` (or the process's own, behind `channel_events`) in `asyncio.run`
against the test database through django-eventstream's storage. Storage reads happen in worker
threads, so those tests use `transactional_db`: the rows must be committed for them to see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any, TypeVar

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser, User
from django_eventstream.models import Event as StoredEvent
from pytest_django import Settings

from echo.broadcast import channels as channels_module
from echo.broadcast import hub as hub_module
from echo.broadcast.access import ChannelManager, valid_channel
from echo.broadcast.access import channel_manager as get_channelmanager
from echo.broadcast.channels import declare_channel
from echo.broadcast.hub import Hub, Overflow, Subscription, hub
from echo.broadcast.publish import apublish, publish
from echo.broadcast.published import Published
from echo.broadcast.storage import get_storage, stored_batches
from echo.broadcast.subscribe import channel_events, parse_last_event_id
from echo.demo.messages import ChatMessage, MessagePayload
from echo.sse import BaseEvent, EndReason, EventStreamResponse, LastEventIdError, ServerSentEvent
from echo.sse.wire.endings import StreamEnd

from ..loops import run

T = TypeVar("T")
WAIT = 5.0  # seconds; a deadline for things that happen at once unless something is broken


class ServerNotice(BaseEvent[str]):
    pass


@pytest.fixture
def declarations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copies of the channel declarations for the test to add to; the apps' own come back after."""
    monkeypatch.setattr(channels_module, "_exact", dict(channels_module._exact))
    monkeypatch.setattr(channels_module, "_patterns", dict(channels_module._patterns))


def chat(text: str) -> ChatMessage:
    return ChatMessage.create(MessagePayload(text=text))


def store(channel: str, count: int) -> list[int | None]:
    """Publish `count` chat messages `m1`, `m2`, ... on `channel`; their ids."""
    return [publish(channel, chat(f"m{n}")) for n in range(1, count + 1)]


def item(channel: str, event_id: int) -> Published:
    return Published(channel, event_id, "chat_message", json.dumps({"n": event_id}))


async def ids(sub: Subscription, count: int) -> list[int | None]:
    async with asyncio.timeout(WAIT):
        return [(await sub.get()).id for _ in range(count)]


@contextlib.asynccontextmanager
async def subscribed(
    channels: list[str], last_ids: dict[str, int]
) -> AsyncIterator[AsyncGenerator[ServerSentEvent, None]]:
    """`channel_events` closed on the way out, as the response closes it when a client leaves."""
    stream = channel_events(channels, last_ids)
    assert isinstance(stream, AsyncGenerator)
    try:
        yield stream
    finally:
        await stream.aclose()


async def take(stream: AsyncIterator[ServerSentEvent], count: int) -> list[ServerSentEvent]:
    async with asyncio.timeout(WAIT):
        return [await anext(stream) for _ in range(count)]


@pytest.fixture
def no_poll(settings: Settings) -> Settings:
    """The storage poll and notifications off, so that only what a test delivers (or the gap fill
    reads) arrives."""
    settings.ECHO = {"BROADCAST_POLL_INTERVAL": None, "BROADCAST_NOTIFY": False}
    return settings


# -- event types and the published item -------------------------------------------------------------


def test_published_round_trips_through_its_relay_json() -> None:
    sent = Published("news", 7, "chat_message", '{"text":"hi"}')

    assert Published.from_json(sent.to_json()) == sent
    assert Published.from_json(Published("news", None, "x", "{}").to_json()).id is None


def test_published_event_id_names_the_channel_and_is_built_once() -> None:
    published = Published("news.eu", 7, "chat_message", '{"text":"hi"}')
    event = published.single_channel_event()

    assert (event.id, event.event, event.data) == ("news.eu:7", "chat_message", '{"text":"hi"}')
    assert published.single_channel_event() is event
    assert Published("news", None, "x", "{}").single_channel_event().id is None


# -- publish --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_publish_stores_the_typed_event_and_returns_the_channels_next_id() -> None:
    assert store("news", 2) == [1, 2]
    assert publish("sport", chat("goal")) == 1  # each channel numbers its own events

    stored = get_storage().get_events("news", 0)
    assert [(event.id, event.type) for event in stored] == [(1, "chat_message"), (2, "chat_message")]
    payload = json.loads(stored[0].data)
    assert set(payload) == {"text", "sent_at"}
    assert payload["text"] == "m1"
    datetime.fromisoformat(payload["sent_at"])
    assert get_storage().get_current_id("news") == 2


@pytest.mark.django_db
@pytest.mark.usefixtures("declarations")
def test_publish_stores_any_event_types_json_data() -> None:
    declare_channel("notices", ServerNotice)
    publish("notices", ServerNotice.create('say "hi"\nbye'))

    (stored,) = get_storage().get_events("notices", 0)
    assert stored.type == "server_notice"
    assert json.loads(stored.data) == 'say "hi"\nbye'


@pytest.mark.django_db(transaction=True)
def test_apublish_stores_and_returns_the_id_from_async_code() -> None:
    assert run(apublish("news", chat("async"))) == 1
    assert run(apublish("news", chat("again"))) == 2

    assert [json.loads(e.data)["text"] for e in get_storage().get_events("news", 0)] == ["async", "again"]


@pytest.mark.django_db
@pytest.mark.parametrize("channel", ["", "a:b", "a,b", "-lead", "a b", "a/b", "é", "x" * 101])
def test_publish_refuses_a_bad_channel_name_and_stores_nothing(channel: str) -> None:
    with pytest.raises(ValueError, match="invalid channel name"):
        publish(channel, chat("hi"))

    assert not StoredEvent.objects.exists()


# -- access ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["demo", "user-1", "a", "9lives", "A.b_c-d", "x" * 100])
def test_valid_channel_accepts(name: str) -> None:
    assert valid_channel(name)


@pytest.mark.parametrize(
    "name", ["", "-demo", ".x", "_x", "a:b", "a,b", "a b", "a/b", "a%20", "x" * 101, "é", "demo\n"]
)
def test_valid_channel_refuses(name: str) -> None:
    assert not valid_channel(name)


def user(pk: int) -> User:
    return User(pk=pk, username=f"user{pk}")


@pytest.mark.parametrize(
    ("reader", "channel", "allowed"),
    [
        (None, "demo", True),
        (AnonymousUser(), "demo", True),
        (user(1), "demo", True),
        (user(2), "users-1", True),  # a test channel (`{channel}`, read by anyone)
        (None, "user-1", False),
        (AnonymousUser(), "user-1", False),
        (user(1), "user-1", True),
        (user(2), "user-1", False),
        (user(1), "user-10", False),
        (user(10), "user-1", False),
        (user(1), "user-x1", False),  # not its id
    ],
)
def test_channel_manager_lets_only_user_n_read_user_n(reader: Any, channel: str, allowed: bool) -> None:
    assert ChannelManager().can_read_channel(reader, channel) is allowed


def test_channel_manager_is_the_one_the_settings_name_and_every_channel_is_stored() -> None:
    manager = get_channelmanager()

    assert isinstance(manager, ChannelManager)
    assert manager.is_channel_reliable("demo")
    assert manager.is_channel_reliable("user-1")


# -- Last-Event-ID ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "channels", "expected"),
    [
        ("", ["demo"], {}),
        ("   ", ["demo"], {}),
        ("5", ["demo"], {"demo": 5}),
        (" 5 ", ["demo"], {"demo": 5}),
        ("demo:5", ["demo"], {"demo": 5}),
        ("demo:0", ["demo"], {"demo": 0}),
        ("a:1,b:2", ["a", "b"], {"a": 1, "b": 2}),
        ("b:2,a:1", ["a", "b"], {"a": 1, "b": 2}),
        ("a:1", ["a", "b"], {"a": 1}),
        ("a:1,gone:7", ["a"], {"a": 1}),  # a channel not asked for now is ignored
        ("other:3", ["demo"], {}),
        ("a.b-c_d:12", ["a.b-c_d"], {"a.b-c_d": 12}),
    ],
)
def test_parse_last_event_id_reads_channel_positions(
    raw: str, channels: list[str], expected: dict[str, int]
) -> None:
    assert parse_last_event_id(raw, channels) == expected


@pytest.mark.parametrize(
    ("raw", "channels"),
    [
        ("5", ["a", "b"]),  # a bare number cannot say which of two channels
        ("abc", ["demo"]),
        ("demo:", ["demo"]),
        (":5", ["demo"]),
        ("demo:-1", ["demo"]),
        ("demo:1.5", ["demo"]),
        ("demo:x", ["demo"]),
        ("demo:1,", ["demo"]),
    ],
)
def test_parse_last_event_id_refuses_what_it_cannot_read(raw: str, channels: list[str]) -> None:
    with pytest.raises(LastEventIdError, match="channel:id"):
        parse_last_event_id(raw, channels)


# -- the hub: order, duplicates, gaps, slow subscribers --------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_hub_position_is_the_channels_current_id_in_storage() -> None:
    store("counted", 2)

    async def main() -> dict[str, int | None]:
        fan_out = Hub()
        sub = await fan_out.subscribe(["counted", "empty"])
        fan_out.unsubscribe(sub)
        return sub.positions

    assert run(main()) == {"counted": 2, "empty": 0}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_hub_delivers_in_id_order_whatever_the_arrival_order() -> None:
    async def main() -> tuple[list[int | None], list[int | None]]:
        fan_out = Hub()
        sub = await fan_out.subscribe(["order"])
        other = await fan_out.subscribe(["elsewhere"])
        for event_id in (3, 1, 2, 6, 5, 4):
            fan_out.deliver(item("order", event_id))
        fan_out.deliver(item("elsewhere", 1))
        got = await ids(sub, 6), await ids(other, 1)
        fan_out.unsubscribe(sub)
        fan_out.unsubscribe(other)
        return got

    assert run(main()) == ([1, 2, 3, 4, 5, 6], [1])


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_hub_sends_directly_only_to_a_subscriber_waiting_with_nothing_queued() -> None:
    async def main() -> tuple[list[int | None], list[int | None], int | None]:
        fan_out = Hub()
        sub = await fan_out.subscribe(["direct"])
        sent: list[int | None] = []
        accept = True

        def direct(published: Published) -> bool:
            if accept:
                sent.append(published.id)
            return accept

        sub.send_directly(direct)
        fan_out.deliver(item("direct", 1))  # nobody waits in get(): queued
        queued = await ids(sub, 1)
        getter = asyncio.ensure_future(sub.get())
        await asyncio.sleep(0)  # one loop step: the getter runs up to its wait
        fan_out.deliver(item("direct", 2))
        fan_out.deliver(item("direct", 3))
        assert not getter.done()  # sent for it, so it was not woken
        accept = False  # the subscriber cannot send now: queued, and the getter wakes
        fan_out.deliver(item("direct", 4))
        async with asyncio.timeout(WAIT):
            woken = (await getter).id
        fan_out.unsubscribe(sub)
        return queued, sent, woken

    assert run(main()) == ([1], [2, 3], 4)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_hub_queues_for_a_subscriber_whose_direct_send_fails_and_stops_trying_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> tuple[list[int | None], list[int | None]]:
        fan_out = Hub()
        failing = await fan_out.subscribe(["fails"])
        other = await fan_out.subscribe(["fails"])
        tried: list[int | None] = []

        def direct(published: Published) -> bool:
            tried.append(published.id)
            raise RuntimeError("connection in a bad state")

        failing.send_directly(direct)
        getters = [asyncio.ensure_future(sub.get()) for sub in (failing, other)]
        await asyncio.sleep(0)  # one loop step: both getters run up to their wait
        fan_out.deliver(item("fails", 1))
        fan_out.deliver(item("fails", 2))
        async with asyncio.timeout(WAIT):
            first = [(await getter).id for getter in getters]
        got = first + await ids(failing, 1) + await ids(other, 1)
        fan_out.unsubscribe(failing)
        fan_out.unsubscribe(other)
        return tried, got

    assert run(main()) == ([1], [1, 1, 2, 2])
    assert "Direct delivery failed" in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_hub_delivers_an_id_it_has_seen_only_once() -> None:
    async def main() -> list[int | None]:
        fan_out = Hub()
        sub = await fan_out.subscribe(["dupes"])
        for event_id in (1, 1, 2, 1, 2, 3, 3):
            fan_out.deliver(item("dupes", event_id))
        fan_out.deliver(item("dupes", 4))  # the next one after the duplicates, not a repeat
        got = await ids(sub, 4)
        fan_out.unsubscribe(sub)
        return got

    assert run(main()) == [1, 2, 3, 4]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_hub_fills_a_gap_from_storage() -> None:
    async def main() -> list[Published]:
        fan_out = Hub()
        sub = await fan_out.subscribe(["gap"])
        assert sub.positions == {"gap": 0}
        # Three events stored by someone this hub never hears from; only the last one reaches it.
        await sync_to_async(store)("gap", 3)
        fan_out.deliver(item("gap", 3))
        async with asyncio.timeout(WAIT):
            got = [await sub.get() for _ in range(3)]
        fan_out.unsubscribe(sub)
        return got

    got = run(main())
    assert [p.id for p in got] == [1, 2, 3]
    assert [json.loads(p.data)["text"] for p in got[:2]] == ["m1", "m2"]  # read back from storage
    assert {p.event for p in got} == {"chat_message"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_hub_moves_past_a_gap_that_storage_does_not_have() -> None:
    async def main() -> list[int | None]:
        fan_out = Hub()
        sub = await fan_out.subscribe(["hole"])
        fan_out.deliver(item("hole", 3))
        got = await ids(sub, 1)
        fan_out.deliver(item("hole", 4))
        got += await ids(sub, 1)
        fan_out.unsubscribe(sub)
        return got

    assert run(main()) == [3, 4]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_hub_gap_filled_by_deliveries_during_the_storage_read_delivers_nothing_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fan_out = Hub()
    real_read = hub_module.read_stored
    read_done = asyncio.Event()

    async def read_while_the_missing_events_arrive(name: str, after: int, upto: int) -> list[Published]:
        # The publishers of the missing ids were only a little slower than the gap wait: their
        # deliveries land while the hub is reading storage.
        for event_id in range(after + 1, upto + 1):
            fan_out.deliver(item(name, event_id))
        try:
            return await real_read(name, after, upto)
        finally:
            read_done.set()  # wakes the test only after the hub has dealt with what it read

    monkeypatch.setattr(hub_module, "read_stored", read_while_the_missing_events_arrive)

    async def main() -> list[int | None]:
        sub = await fan_out.subscribe(["race"])
        assert sub.positions == {"race": 0}
        await sync_to_async(store)("race", 5)
        fan_out.deliver(item("race", 4))  # 1..3 are late
        got = await ids(sub, 4)
        async with asyncio.timeout(WAIT):
            await read_done.wait()
        fan_out.deliver(item("race", 5))
        got += await ids(sub, 1)
        fan_out.unsubscribe(sub)
        return got

    assert run(main()) == [1, 2, 3, 4, 5]


@pytest.mark.django_db(transaction=True)
def test_hub_poll_goes_on_after_a_failed_storage_read(settings: Settings) -> None:
    settings.ECHO = {"BROADCAST_POLL_INTERVAL": 0.02, "BROADCAST_NOTIFY": False}
    store("quiet", 2)

    async def main() -> list[int | None]:
        fan_out = Hub()
        quiet = await fan_out.subscribe(["quiet"])
        healthy = await fan_out.subscribe(["healthy"])
        assert (quiet.positions, healthy.positions) == ({"quiet": 2}, {"healthy": 0})
        # Event 2 is trimmed (django-eventstream drops events older than a day when it appends),
        # then another process publishes 3, so reading on from 2 fails. After that, another
        # process publishes on a healthy channel: this hub can only find it by polling.
        await sync_to_async(StoredEvent.objects.filter(channel="quiet", eid=2).delete)()
        await sync_to_async(publish)("quiet", chat("after the trim"))
        await sync_to_async(store)("healthy", 1)
        async with asyncio.timeout(2.0):
            got = [(await healthy.get()).id]
        fan_out.unsubscribe(quiet)
        fan_out.unsubscribe(healthy)
        return got

    assert run(main()) == [1]


@pytest.mark.django_db(transaction=True)
def test_hub_tells_a_subscriber_that_fell_behind_where_to_catch_up(settings: Settings) -> None:
    settings.ECHO = {"BROADCAST_BUFFER": 3, "BROADCAST_POLL_INTERVAL": None, "BROADCAST_NOTIFY": False}

    async def main() -> tuple[list[int | None], dict[str, int | None], list[int | None]]:
        fan_out = Hub()
        slow = await fan_out.subscribe(["busy"])
        keeping_up = await fan_out.subscribe(["busy"])
        kept: list[int | None] = []
        for event_id in range(1, 11):
            fan_out.deliver(item("busy", event_id))
            kept += await ids(keeping_up, 1)
        with pytest.raises(Overflow) as overflow:
            await slow.get()
        position = overflow.value.positions["busy"]
        assert position is not None
        rest = await ids(slow, 10 - position)
        fan_out.unsubscribe(slow)
        fan_out.unsubscribe(keeping_up)
        return kept, overflow.value.positions, rest

    kept, positions, rest = run(main())
    assert kept == list(range(1, 11))  # one slow subscriber costs the others nothing
    position = positions["busy"]
    assert position is not None
    assert 4 <= position <= 10  # it overflowed on the 4th event at the earliest
    # Everything up to `position` is in storage; everything after it is still queued.
    assert rest == list(range(position + 1, 11))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_hub_forgets_a_channel_when_its_last_subscriber_leaves() -> None:
    async def main() -> tuple[int, int]:
        fan_out = Hub()
        first = await fan_out.subscribe(["a", "b"])
        second = await fan_out.subscribe(["a"])
        during = fan_out.subscriber_count()
        fan_out.unsubscribe(first)
        fan_out.unsubscribe(second)
        return during, fan_out.subscriber_count()

    assert run(main()) == (3, 0)


# -- channel_events: what a subscriber's stream carries -----------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_channel_events_opens_at_the_current_position_then_carries_new_events() -> None:
    store("fresh", 3)

    async def main() -> list[ServerSentEvent]:
        async with subscribed(["fresh"], {}) as stream:
            opened = await take(stream, 1)
            await apublish("fresh", chat("new"))
            return opened + await take(stream, 1)

    opened, new = run(main())
    assert (opened.event, opened.id, opened.data) == ("stream-open", "fresh:3", "")
    assert (new.event, new.id) == ("chat_message", "fresh:4")
    assert new.data is not None
    assert json.loads(new.data)["text"] == "new"
    assert hub.subscriber_count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_channel_events_replays_from_storage_after_the_last_event_id() -> None:
    store("resume", 5)

    async def main() -> list[ServerSentEvent]:
        async with subscribed(["resume"], {"resume": 2}) as stream:
            replayed = await take(stream, 4)
            await apublish("resume", chat("live"))
            return replayed + await take(stream, 1)

    events = run(main())
    assert [(e.event, e.id) for e in events] == [
        ("stream-open", "resume:2"),
        ("chat_message", "resume:3"),
        ("chat_message", "resume:4"),
        ("chat_message", "resume:5"),
        ("chat_message", "resume:6"),
    ]
    assert [json.loads(e.data or "")["text"] for e in events[1:]] == ["m3", "m4", "m5", "live"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_channel_events_on_several_channels_carry_every_channels_position_in_each_id() -> None:
    store("a", 2)
    store("b", 1)

    async def main() -> list[ServerSentEvent]:
        async with subscribed(["a", "b"], {"a": 1}) as stream:
            replayed = await take(stream, 2)
            await apublish("b", chat("to b"))
            await apublish("a", chat("to a"))
            return replayed + await take(stream, 2)

    events = run(main())
    assert [(e.event, e.id) for e in events] == [
        ("stream-open", "a:1,b:1"),
        ("chat_message", "a:2,b:1"),
        ("chat_message", "a:2,b:2"),
        ("chat_message", "a:3,b:2"),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_channel_events_resets_when_the_last_event_id_is_gone_from_storage() -> None:
    store("trimmed", 5)
    StoredEvent.objects.filter(channel="trimmed", eid__lte=2).delete()  # as the trim of old events does

    async def main() -> list[ServerSentEvent]:
        async with subscribed(["trimmed"], {"trimmed": 2}) as stream:
            opened = await take(stream, 2)
            await apublish("trimmed", chat("after"))
            return opened + await take(stream, 1)

    events = run(main())
    assert [(e.event, e.id) for e in events] == [
        ("stream-open", "trimmed:2"),
        ("stream-reset", "trimmed:5"),
        ("chat_message", "trimmed:6"),
    ]
    assert json.loads(events[1].data or "") == {"channels": ["trimmed"]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_channel_events_from_an_id_the_channel_never_reached_still_get_new_events() -> None:
    store("ahead", 3)

    async def main() -> list[ServerSentEvent]:
        async with subscribed(["ahead"], {"ahead": 50}) as stream:
            await take(stream, 1)
            await apublish("ahead", chat("new"))
            async with asyncio.timeout(1.0):
                while True:
                    event = await anext(stream)
                    if event.event == "chat_message":
                        return [event]

    assert [e.id for e in run(main())] == ["ahead:4"]


@pytest.mark.django_db(transaction=True)
def test_channel_events_catch_up_from_storage_after_the_buffer_overflows(settings: Settings) -> None:
    settings.ECHO = {"BROADCAST_BUFFER": 3, "BROADCAST_POLL_INTERVAL": None, "BROADCAST_NOTIFY": False}

    async def main() -> list[ServerSentEvent]:
        async with subscribed(["burst"], {}) as stream:
            opened = await take(stream, 1)
            # 20 events reach the hub while this subscriber reads nothing: its buffer of 3 overflows.
            await sync_to_async(store)("burst", 20)
            events = opened + await take(stream, 20)
            await apublish("burst", chat("after"))  # the next one is 21: nothing was sent twice
            return events + await take(stream, 1)

    events = run(main())
    assert events[0].id == "burst:0"
    assert [e.id for e in events[1:]] == [f"burst:{n}" for n in range(1, 22)]
    assert [json.loads(e.data or "")["text"] for e in events[1:21]] == [f"m{n}" for n in range(1, 21)]


@pytest.mark.django_db(transaction=True)
def test_channel_events_end_with_stream_error_when_unstored_events_overflow(settings: Settings) -> None:
    settings.EVENTSTREAM_STORAGE_CLASS = None  # no storage: events have no id and cannot be replayed
    settings.ECHO = {"BROADCAST_BUFFER": 2, "BROADCAST_POLL_INTERVAL": None, "BROADCAST_NOTIFY": False}

    async def main() -> tuple[list[ServerSentEvent], list[ServerSentEvent]]:
        async with subscribed(["volatile"], {}) as stream:
            opened = await take(stream, 1)
            for n in range(5):
                assert publish("volatile", chat(f"m{n}")) is None
            async with asyncio.timeout(WAIT):
                rest = [event async for event in stream]
            return opened, rest

    opened, rest = run(main())
    assert [(e.event, e.id) for e in opened] == [("stream-open", None)]
    # The stream ends as `fell_behind` (not `completed`), its last event `stream-error`.
    [end] = rest
    assert isinstance(end, StreamEnd)
    assert end.reason is EndReason.FELL_BEHIND
    assert isinstance(end.final, ServerSentEvent)
    assert (end.final.event, end.final.id) == ("stream-error", None)
    assert json.loads(end.final.data or "") == {
        "condition": "overflow",
        "text": "fell too far behind; reconnect",
    }


@pytest.mark.django_db(transaction=True)
def test_a_subscriber_that_falls_behind_unstored_events_is_recorded_as_fell_behind(
    settings: Settings,
) -> None:
    settings.EVENTSTREAM_STORAGE_CLASS = None
    settings.ECHO = {"BROADCAST_BUFFER": 2, "BROADCAST_POLL_INTERVAL": None, "BROADCAST_NOTIFY": False}

    async def main() -> tuple[EventStreamResponse, list[bytes]]:
        response = EventStreamResponse(channel_events(["volatile"], {}), ping=None, retry=None, record=False)
        parts = aiter(response)
        assert isinstance(parts, AsyncGenerator)
        received: list[bytes] = []
        try:
            async with asyncio.timeout(WAIT):
                while b"stream-open" not in b"".join(received):
                    received.append(await anext(parts))
                for n in range(5):
                    assert publish("volatile", chat(f"m{n}")) is None
                received += [chunk async for chunk in parts]
        finally:
            await parts.aclose()
            response.close()
        return response, received

    response, received = run(main())
    assert b"".join(received).endswith(
        b'event: stream-error\ndata: {"condition":"overflow","text":"fell too far behind; reconnect"}\n\n'
    )
    assert response.info.end_reason is EndReason.FELL_BEHIND


@pytest.mark.django_db(transaction=True)
def test_stored_batches_read_a_range_a_batch_at_a_time_in_order() -> None:
    first = publish("batches", chat("0"))
    for n in range(1, 7):
        publish("batches", chat(str(n)))
    assert first is not None

    async def main() -> list[list[int | None]]:
        return [[item.id for item in batch] async for batch in stored_batches("batches", first, first + 6, 4)]

    assert run(main()) == [[first + 1, first + 2, first + 3, first + 4], [first + 5, first + 6]]
