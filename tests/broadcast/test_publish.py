"""What a publish costs and what it keeps (issue 30): one or two statements for an event or a whole
batch, stored as django-eventstream's own `Event.save()` stores it (its readers, `Last-Event-ID`
replay and its own `send_event` go on working), bounded by retention, announced only once
committed. Run on SQLite by `make test` and on PostgreSQL by `make test-postgres`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django_eventstream.models import Event as StoredEvent
from django_eventstream.models import EventCounter
from django_eventstream.storage import DjangoModelStorage
from pytest_django import Settings

from echo.broadcast import notify, retention
from echo.broadcast.eventstream import ModelStorage
from echo.broadcast.exceptions import UndeclaredEvent
from echo.broadcast.publish import apublish_many, publish, publish_many
from echo.broadcast.published import Published
from echo.broadcast.storage import get_storage
from echo.demo.messages import ChatMessage, MessagePayload
from echo.sse import BaseEvent, ServerSentEvent

from ..loops import run
from ..services import redis_server
from .test_broadcast import subscribed, take


class ServerNotice(BaseEvent[str]):
    """An event type no channel declares."""


def chat(text: str) -> ChatMessage:
    return ChatMessage.create(MessagePayload(text=text))


def chats(prefix: str, count: int) -> list[ChatMessage]:
    return [chat(f"{prefix}{n}") for n in range(1, count + 1)]


def texts(channel: str, after: int = 0) -> list[tuple[int, str]]:
    storage = get_storage()
    assert storage is not None
    return [(e.id, json.loads(e.data)["text"]) for e in storage.get_events(channel, after, limit=10_000)]


def expected_statements() -> int:
    """SQLite: the counter, then the events. PostgreSQL: one statement, the NOTIFYs included."""
    return 1 if connection.vendor == "postgresql" else 2


@pytest.fixture
def no_poll(settings: Settings) -> None:
    """Only what is published here reaches the subscriber: no storage poll, no notifications."""
    settings.ECHO = {"BROADCAST_POLL_INTERVAL": None, "BROADCAST_NOTIFY": False}


@pytest.fixture(autouse=True)
def age_trimmed_just_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """The age trim (once a minute per process) is not due while the test counts statements."""
    monkeypatch.setattr(retention, "_last_age_trim", time.monotonic())


def statements(queries: CaptureQueriesContext) -> list[str]:
    # Transaction control is not a statement of the publish's own (SQLite logs its BEGIN).
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    return [q["sql"] for q in queries.captured_queries if not q["sql"].upper().startswith(control)]


# -- cost ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_publish_is_one_or_two_statements_on_a_new_channel_and_after() -> None:
    with CaptureQueriesContext(connection) as first:
        assert publish("costs", chat("first")) == 1
    with CaptureQueriesContext(connection) as second:
        assert publish("costs", chat("second")) == 2

    assert len(statements(first)) == len(statements(second)) == expected_statements()


@pytest.mark.django_db
def test_publish_many_stores_a_batch_in_as_many_statements_as_one_event() -> None:
    with CaptureQueriesContext(connection) as new_channel:
        assert publish_many("batches", chats("a", 300)) == list(range(1, 301))
    with CaptureQueriesContext(connection) as existing:
        assert publish_many("batches", chats("b", 300)) == list(range(301, 601))

    assert len(statements(new_channel)) == len(statements(existing)) == expected_statements()
    assert texts("batches") == [(n, f"a{n}") for n in range(1, 301)] + [
        (n, f"b{n - 300}") for n in range(301, 601)
    ]


@pytest.mark.django_db
def test_publish_many_of_nothing_stores_nothing() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert publish_many("nothing", []) == []

    assert queries.captured_queries == []


@pytest.mark.django_db(transaction=True)
def test_apublish_many_stores_from_async_code() -> None:
    assert run(apublish_many("async-batch", chats("m", 3))) == [1, 2, 3]
    assert texts("async-batch") == [(1, "m1"), (2, "m2"), (3, "m3")]


# -- what is stored -------------------------------------------------------------------------------------


def rows(channel: str) -> list[tuple[int, str, str]]:
    return list(
        StoredEvent.objects.filter(channel=channel).order_by("eid").values_list("eid", "type", "data")
    )


@pytest.mark.django_db
def test_an_append_stores_what_django_eventstreams_own_save_stores() -> None:
    """Pins echo.broadcast.eventstream's detail 8 (docs/upstream.md): the same rows, counter and
    reads as `Event.save()`, placeholder event 0 included."""
    payloads: list[Any] = [{"n": 1, "text": 'é\n"x"'}, "plain", [1, 2]]
    for data in payloads:
        DjangoModelStorage().append_event("theirs", "note", data)
    ModelStorage().append_events("ours", [("note", data) for data in payloads])

    assert rows("ours") == rows("theirs")
    assert rows("ours")[0] == (0, "", "")
    assert EventCounter.objects.get(name="ours").value == EventCounter.objects.get(name="theirs").value == 3
    assert StoredEvent.objects.filter(channel="ours", created__isnull=True).count() == 0
    upstream = DjangoModelStorage()
    read = [(e.id, e.type, e.data) for e in upstream.get_events("ours", 0)]
    assert read == [(e.id, e.type, e.data) for e in upstream.get_events("theirs", 0)]
    assert read == [(1, "note", payloads[0]), (2, "note", "plain"), (3, "note", [1, 2])]
    assert upstream.get_current_id("ours") == 3


@pytest.mark.django_db
def test_ids_go_on_from_django_eventstreams_own_appends_and_back() -> None:
    theirs = DjangoModelStorage()
    ours = ModelStorage()
    got = [
        theirs.append_event("shared", "note", {}).id,
        *ours.append_events("shared", [("note", {}), ("note", {})]),
        theirs.append_event("shared", "note", {}).id,
        ours.append_event("shared", "note", {}).id,
    ]

    assert got == [1, 2, 3, 4, 5]
    assert [eid for eid, _, _ in rows("shared")] == [0, 1, 2, 3, 4, 5]


@pytest.mark.django_db
def test_a_reader_resumes_inside_a_batch_from_any_of_its_ids() -> None:
    publish_many("resumable", chats("m", 10))

    assert texts("resumable", 4) == [(n, f"m{n}") for n in range(5, 11)]
    assert texts("resumable", 10) == []


@pytest.mark.django_db
def test_a_batch_with_an_undeclared_event_type_stores_nothing() -> None:
    with pytest.raises(UndeclaredEvent):
        publish_many("refused", [chat("fine"), ServerNotice.create("not on this channel")])  # type: ignore[list-item]

    assert not StoredEvent.objects.filter(channel="refused").exists()
    assert not EventCounter.objects.filter(name="refused").exists()


@pytest.mark.django_db
def test_a_batch_to_a_bad_channel_name_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid channel name"):
        publish_many("a b", [chat("x")])


@pytest.mark.django_db
def test_batches_are_bounded_by_the_retention_count_as_single_events_are() -> None:
    with override_settings(ECHO={"BROADCAST_KEEP_EVENTS": 20}):
        for _ in range(10):
            publish_many("bounded", chats("m", 7))

    kept = [eid for eid, _, _ in rows("bounded")]
    # Trimmed whenever a batch passes a tenth of the bound: never more than a batch over it.
    assert kept[-1] == 70
    assert kept == list(range(kept[0], 71))
    assert 20 <= len(kept) <= 20 + 7


# -- transactions -------------------------------------------------------------------------------------


def rolled_back_batch(channel: str) -> list[int | None]:
    class Abandoned(Exception):
        pass

    ids: list[int | None] = []
    try:
        with transaction.atomic():
            ids = publish_many(channel, chats("phantom", 3))
            raise Abandoned
    except Abandoned:
        pass
    return ids


def committed_batch(channel: str) -> list[int | None]:
    with transaction.atomic():
        return publish_many(channel, chats("kept", 2))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_poll")
def test_a_rolled_back_batch_reaches_no_one_and_frees_its_ids_for_the_next() -> None:
    async def main() -> tuple[list[int | None], list[int | None], list[ServerSentEvent]]:
        async with subscribed(["txn-batch"], {}) as stream:
            await take(stream, 1)  # stream-open
            phantom = await sync_to_async(rolled_back_batch)("txn-batch")
            kept = await sync_to_async(committed_batch)("txn-batch")
            return phantom, kept, await take(stream, 2)

    phantom, kept, received = run(main())
    assert phantom == [*kept, 3]  # the rollback gave its ids back: the committed batch took them
    assert [(event.id, json.loads(event.data or "")["text"]) for event in received] == [
        ("txn-batch:1", "kept1"),
        ("txn-batch:2", "kept2"),
    ]
    assert texts("txn-batch") == [(1, "kept1"), (2, "kept2")]
    assert get_storage().get_current_id("txn-batch") == 2  # type: ignore[union-attr]


# -- notifications (PostgreSQL) --------------------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        Published("news", 7, "chat_message", '{"text":"hi"}'),
        Published("a.b-c_d", 123456789012, "x", '"é \\" \\n"', at=1.5),
        Published("n", 1, "e", ""),
    ],
)
def test_the_json_split_around_the_id_is_the_events_json(item: Published) -> None:
    head, tail = item.to_json_around_id()

    assert head + str(item.id) + tail == item.to_json()


def test_a_notification_too_large_to_carry_its_event_carries_its_channel_and_id() -> None:
    small = Published("news", None, "chat_message", '"x"')
    large = Published("news", None, "chat_message", json.dumps("x" * notify.MAX_PAYLOAD))

    head, tail = notify.payload_around_id(small)
    assert Published.from_json(head + "41" + tail) == Published("news", 41, "chat_message", '"x"')
    head, tail = notify.payload_around_id(large)
    assert json.loads(head + "9223372036854775807" + tail) == {"channel": "news", "id": 2**63 - 1}


def listening() -> Any:
    import psycopg

    from echo.sse.glue.django_internals import connection_params

    params = {k: v for k, v in connection_params("default").items() if k not in ("context", "cursor_factory")}
    db = psycopg.connect(autocommit=True, **params)
    db.execute(f"LISTEN {notify.CHANNEL}")
    return db


@pytest.mark.django_db(transaction=True)
def test_the_storing_statement_notifies_each_event_once_committed_in_order() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's (make test-postgres)")
    assert notify.enabled()
    long = "y" * 1000
    with listening() as db:
        with transaction.atomic():
            publish_many("notified", chats("m", 3))
            publish("notified", ChatMessage.create(MessagePayload(text="z" * 100)))
            assert list(db.notifies(timeout=0.2, stop_after=1)) == []  # nothing before the commit
        publish_many("notified", [chat(long), chat("after")])
        payloads = [json.loads(note.payload) for note in db.notifies(timeout=10, stop_after=6)]

    assert [(body["id"], json.loads(body["data"])["text"]) for body in payloads] == [
        (1, "m1"),
        (2, "m2"),
        (3, "m3"),
        (4, "z" * 100),
        (5, long),
        (6, "after"),
    ]
    assert {body["channel"] for body in payloads} == {"notified"}


# -- the Redis relay ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_batch_reaches_redis_in_one_pipeline_in_order(tmp_path: Path, settings: Settings) -> None:
    import redis

    from echo.broadcast import relay

    with redis_server(tmp_path) as url:
        settings.ECHO = {"REDIS_URL": url}
        listener = redis.Redis.from_url(url)
        pubsub = listener.pubsub()
        try:
            pubsub.subscribe(relay.CHANNEL)
            assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
            ids = publish_many("relayed", chats("m", 5))
            heard = []
            deadline = time.monotonic() + 10
            while len(heard) < 5 and time.monotonic() < deadline:
                message = pubsub.get_message(timeout=1)
                if message is not None:
                    heard.append(Published.from_json(message["data"]))
        finally:
            pubsub.close()
            listener.close()
            relay.relay.reset()

    assert ids == [1, 2, 3, 4, 5]
    assert [(item.id, json.loads(item.data)["text"]) for item in heard] == [(n, f"m{n}") for n in ids]
    assert {item.channel for item in heard} == {"relayed"}
