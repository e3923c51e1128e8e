"""`SessionRecorder`: every stream served in process becomes one `StreamSession` row, written by the
recorder's own thread, with exact counters and the reason it ended."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import OperationalError, connection
from django.test import RequestFactory, override_settings

from echo.sessions import recorder as sessions
from echo.sessions import writer
from echo.sessions.models import StreamSession
from echo.sessions.recorder import SessionRecorder
from echo.sse import EndReason, EventStreamResponse, ServerSentEvent, StreamInfo
from echo.sse.runtime.registry import registry

from ..loops import run
from ..servers import wait_for

# What a stream whose source ran out sends last (issue 31): bytes, not an event of the stream's.
DONE = b'event: completed\ndata: {"reason":"completed"}\n\n'


@pytest.fixture
def recorder(transactional_db: None) -> Iterator[SessionRecorder]:
    """A recorder of the test's own, and the only observer while the test runs."""
    fresh = SessionRecorder()
    others = registry.observers()  # `echo.sessions.recorder`, registered by EchoConfig.ready()
    for observer in others:
        registry.remove_observer(observer)
    registry.add_observer(fresh)
    try:
        yield fresh
    finally:
        registry.remove_observer(fresh)
        for observer in others:
            registry.add_observer(observer)
        # Nothing may still be writing when transactional_db empties the tables.
        assert fresh.close(10), "the session writer did not stop"


def request(path: str = "/sse2", **extra: Any) -> Any:
    extra.setdefault("REMOTE_ADDR", "127.0.0.1")
    return RequestFactory().get(path, **extra)


def echo(n: int, text: str = "hi") -> ServerSentEvent:
    return ServerSentEvent(id=n, event="echo", data=json.dumps({"message": text}))


async def events(*items: ServerSentEvent) -> AsyncIterator[ServerSentEvent]:
    for item in items:
        yield item


async def consume(response: EventStreamResponse, limit: int | None = None) -> list[bytes]:
    """Read the body as a server would (then close it), or only its first `limit` chunks.

    Empty body parts (the response sends one so that the server writes the headers at once)
    carry nothing to the client, so they are left out here and in every count below.
    """
    chunks: list[bytes] = []
    try:
        async with aclosing(body_of(response)) as body:
            async for chunk in body:
                if chunk:
                    chunks.append(chunk)
                if len(chunks) == limit:
                    break
    finally:
        response.close()
    return chunks


def body_of(response: EventStreamResponse) -> AsyncGenerator[bytes, None]:
    body = aiter(response)
    assert isinstance(body, AsyncGenerator)  # so it can be closed, as the ASGI handler does
    return body


async def next_chunks(body: AsyncIterator[bytes], count: int) -> list[bytes]:
    chunks: list[bytes] = []
    while len(chunks) < count:
        chunk = await anext(body)
        if chunk:
            chunks.append(chunk)
    return chunks


def flushed(recorder: SessionRecorder) -> list[StreamSession]:
    assert recorder.flush(10), "the session writer did not catch up"
    return list(StreamSession.objects.all())


def only_row(recorder: SessionRecorder) -> StreamSession:
    rows = flushed(recorder)
    assert len(rows) == 1
    return rows[0]


def test_a_completed_stream_is_recorded_with_its_request_and_counters(recorder: SessionRecorder) -> None:
    sent = [echo(0, "a"), echo(1, "bb"), echo(2, "ccc")]
    response = EventStreamResponse(
        events(*sent),
        ping=None,
        request=request("/sse2", QUERY_STRING="message=hi&count=3", HTTP_USER_AGENT="probe/1.0"),
    )

    chunks = run(consume(response))

    row = only_row(recorder)
    assert row.id == response.info.id
    assert row.path == "/sse2"
    assert row.query == "message=hi&count=3"
    assert row.client == "127.0.0.1"
    assert row.user_agent == "probe/1.0"
    assert row.user is None
    assert row.server == sessions.server_id()
    assert row.stream == "echo"
    assert row.events_sent == 3
    # The bytes of the last event, `completed`, are counted too (as the toolkit's own events are).
    assert (
        row.bytes_sent
        == sum(len(chunk) for chunk in chunks)
        == sum(len(e.encode()) for e in sent) + len(DONE)
    )
    assert row.last_event_id == "2"
    assert row.end_reason == EndReason.COMPLETED
    assert row.error == ""
    assert row.ended_at is not None
    # Whether the end is written with the insert or after it depends on the writer's batches.
    assert row.started_at <= row.last_seen_at <= row.ended_at


def test_the_retry_field_counts_as_bytes_but_not_as_an_event(recorder: SessionRecorder) -> None:
    response = EventStreamResponse(events(echo(0)), ping=None, retry=2500, request=request())

    chunks = run(consume(response))

    assert chunks[0] == b"retry: 2500\n\n"
    row = only_row(recorder)
    assert row.events_sent == 1
    assert row.bytes_sent == len(b"".join(chunks))


def test_stream_name_lists_event_types_in_first_seen_order(recorder: SessionRecorder) -> None:
    def reverse(n: int) -> ServerSentEvent:
        return ServerSentEvent(id=n, event="reverse_echo", data="ih")

    response = EventStreamResponse(
        events(echo(0), reverse(1), echo(2), reverse(3), ServerSentEvent(data="plain")),
        ping=None,
        request=request(),
    )

    run(consume(response))

    row = only_row(recorder)
    assert row.stream == "echo+reverse_echo+message"
    assert row.last_event_id == "3"  # the last event that had an id


def test_stream_name_of_a_stream_without_events_is_empty(recorder: SessionRecorder) -> None:
    run(consume(EventStreamResponse(events(), ping=None, request=request())))

    row = only_row(recorder)
    assert (row.stream, row.events_sent, row.bytes_sent, row.last_event_id) == ("", 0, len(DONE), "")
    assert row.end_reason == EndReason.COMPLETED


def test_a_name_given_by_the_view_wins(recorder: SessionRecorder) -> None:
    response = EventStreamResponse(events(echo(0)), ping=None, request=request(), name="x")

    run(consume(response))

    assert only_row(recorder).stream == "x"


def test_client_and_ipv6_address_and_user_are_recorded(
    recorder: SessionRecorder, django_user_model: Any
) -> None:
    alice = django_user_model.objects.create_user("alice")
    signed_in = request(REMOTE_ADDR="::1")

    async def auser() -> Any:
        return alice

    signed_in.auser = auser
    anonymous = request(REMOTE_ADDR="127.0.0.2")

    async def no_user() -> Any:
        return AnonymousUser()

    anonymous.auser = no_user

    async def main() -> None:
        await consume(EventStreamResponse(events(echo(0)), ping=None, request=signed_in, name="in"))
        await consume(EventStreamResponse(events(echo(0)), ping=None, request=anonymous, name="out"))

    run(main())

    rows = {row.stream: row for row in flushed(recorder)}
    assert (rows["in"].client, rows["in"].user_id) == ("::1", alice.pk)
    assert (rows["out"].client, rows["out"].user_id) == ("127.0.0.2", None)


def test_a_client_that_goes_away_is_recorded_as_disconnected(recorder: SessionRecorder) -> None:
    async def endless() -> AsyncIterator[ServerSentEvent]:
        n = 0
        while True:
            yield echo(n)
            n += 1

    response = EventStreamResponse(endless(), ping=None, request=request())

    chunks = run(consume(response, limit=5))

    row = only_row(recorder)
    assert row.end_reason == EndReason.CLIENT_DISCONNECTED
    assert row.events_sent == 5
    assert row.bytes_sent == sum(len(chunk) for chunk in chunks)
    assert row.last_event_id == "4"
    assert row.ended_at is not None


def test_a_source_that_raises_is_recorded_as_an_error(recorder: SessionRecorder) -> None:
    async def failing() -> AsyncIterator[ServerSentEvent]:
        yield echo(0)
        yield echo(1)
        raise ValueError("the source broke")

    response = EventStreamResponse(failing(), ping=None, request=request())
    chunks: list[bytes] = []

    async def main() -> None:
        try:
            async with aclosing(body_of(response)) as body:
                async for chunk in body:
                    if chunk:
                        chunks.append(chunk)
        finally:
            response.close()

    run(main())  # the body ends with an error event; nothing is raised to the server

    row = only_row(recorder)
    assert row.end_reason == EndReason.ERROR
    assert row.error == "ValueError: the source broke"
    assert row.events_sent == 2
    assert row.bytes_sent == sum(len(chunk) for chunk in chunks)


def test_a_stream_ended_from_outside_sends_its_final_event_and_is_recorded_as_terminated(
    recorder: SessionRecorder,
) -> None:
    final = ServerSentEvent(event="terminated", data='{"reason":"terminated"}', retry=3000)

    async def waiting() -> AsyncIterator[ServerSentEvent]:
        yield echo(0)
        yield echo(1)
        await asyncio.Event().wait()  # never set: only the end can stop it
        yield echo(2)  # pragma: no cover

    async def main() -> list[bytes]:
        response = EventStreamResponse(waiting(), ping=None, request=request())
        chunks: list[bytes] = []
        try:
            async with aclosing(body_of(response)) as body:
                async for chunk in body:
                    if chunk:
                        chunks.append(chunk)
                    if len(chunks) == 2:
                        response.end_stream(EndReason.TERMINATED, final)
        finally:
            response.close()
        return chunks

    chunks = run(main())

    assert chunks[-1] == final.encode()
    assert len(chunks) == 3
    row = only_row(recorder)
    assert row.end_reason == EndReason.TERMINATED
    assert row.events_sent == 2  # the final event is not one of the stream's own
    assert row.bytes_sent == sum(len(chunk) for chunk in chunks)
    assert row.last_event_id == "1"


def test_record_false_writes_nothing(recorder: SessionRecorder) -> None:
    response = EventStreamResponse(events(echo(0)), ping=None, request=request(), record=False)

    run(consume(response))

    assert flushed(recorder) == []


def test_a_live_stream_shows_its_progress_before_it_ends(recorder: SessionRecorder) -> None:
    release = asyncio.Event()

    async def first_three_then_wait() -> AsyncIterator[ServerSentEvent]:
        for n in range(3):
            yield echo(n)
        await release.wait()
        yield echo(3)

    def progress(stream_id: uuid.UUID) -> StreamSession | None:
        try:
            row = StreamSession.objects.filter(pk=stream_id, events_sent=3).first()
        except OperationalError:
            # The in-memory test database (shared cache) reports a table lock while the writer
            # commits, where a file database would wait: read again on the next poll.
            return None
        finally:
            connection.close()  # this worker thread's own connection, not left to the test's end
        return row

    async def main() -> tuple[StreamSession, list[bytes]]:
        response = EventStreamResponse(first_three_then_wait(), ping=None, request=request())
        try:
            async with aclosing(body_of(response)) as body:
                chunks = await next_chunks(body, 3)
                row = await asyncio.to_thread(
                    wait_for, lambda: progress(response.info.id), timeout=10, what="a progress write"
                )
                assert row is not None
                release.set()
                chunks += [chunk async for chunk in body if chunk]
        finally:
            response.close()
        return row, chunks

    with override_settings(ECHO={"SESSION_PROGRESS_INTERVAL": 0.1}):
        live_row, chunks = run(main())

    assert live_row.ended_at is None
    assert live_row.end_reason == ""
    assert live_row.stream == "echo"
    assert live_row.last_event_id == "2"
    assert live_row.bytes_sent == sum(len(chunk) for chunk in chunks[:3])
    assert live_row.last_seen_at > live_row.started_at
    row = only_row(recorder)
    assert row.events_sent == 4
    assert row.end_reason == EndReason.COMPLETED
    assert row.bytes_sent == sum(len(chunk) for chunk in chunks)


def test_an_idle_live_stream_is_still_seen(recorder: SessionRecorder) -> None:
    release = asyncio.Event()

    async def one_then_wait() -> AsyncIterator[ServerSentEvent]:
        yield echo(0)
        await release.wait()

    def seen_twice(stream_id: uuid.UUID) -> list[Any]:
        """`last_seen_at` values observed so far; done once it has moved twice with no new event."""
        try:
            row = StreamSession.objects.filter(pk=stream_id, events_sent=1).first()
        except OperationalError:
            return []
        finally:
            connection.close()  # this worker thread's own connection
        if row is not None and row.last_seen_at not in observed:
            observed.append(row.last_seen_at)
        return observed if len(observed) >= 2 else []

    observed: list[Any] = []

    async def main() -> None:
        response = EventStreamResponse(one_then_wait(), ping=None, request=request())
        try:
            async with aclosing(body_of(response)) as body:
                await next_chunks(body, 1)
                await asyncio.to_thread(
                    wait_for, lambda: seen_twice(response.info.id), timeout=10, what="last_seen_at to move"
                )
                release.set()
                assert [chunk async for chunk in body if chunk] == [DONE]
        finally:
            response.close()

    with override_settings(ECHO={"SESSION_PROGRESS_INTERVAL": 0.1}):
        run(main())

    assert observed == sorted(observed)
    assert only_row(recorder).end_reason == EndReason.COMPLETED


def test_many_concurrent_streams_make_one_row_each_with_exact_counts(recorder: SessionRecorder) -> None:
    count = 200

    async def numbered(k: int) -> AsyncIterator[ServerSentEvent]:
        for n in range(k % 7 + 1):
            await asyncio.sleep(0)
            yield ServerSentEvent(id=n, event="echo" if k % 2 else "reverse_echo", data=str(k))

    async def one(k: int) -> tuple[uuid.UUID, int, int]:
        response = EventStreamResponse(numbered(k), ping=None, request=request(f"/sse2/{k}"))
        chunks = await consume(response)
        assert chunks[-1] == DONE
        return response.info.id, len(chunks) - 1, sum(len(chunk) for chunk in chunks)

    async def main() -> list[tuple[uuid.UUID, int, int]]:
        return list(await asyncio.gather(*(one(k) for k in range(count))))

    results = run(main())

    rows = {row.id: row for row in flushed(recorder)}
    assert len(rows) == count
    for stream_id, events_sent, bytes_sent in results:
        row = rows[stream_id]
        assert (row.events_sent, row.bytes_sent) == (events_sent, bytes_sent)
        assert row.end_reason == EndReason.COMPLETED
        assert row.ended_at is not None
        k = int(row.path.rsplit("/", 1)[1])
        assert row.events_sent == k % 7 + 1
        assert row.stream == ("echo" if k % 2 else "reverse_echo")
        assert row.last_event_id == str(k % 7)


def test_flush_without_any_stream_returns_at_once() -> None:
    assert SessionRecorder().flush(0)


def test_the_app_registers_its_recorder_as_an_observer() -> None:
    assert sessions.recorder in registry.observers()


# -- when rows are written: an open waits `_HOLD` seconds, so a short stream is one insert ------


def opened(info: StreamInfo) -> Any:
    return ("open", info)


def closed(info: StreamInfo) -> Any:
    ended = StreamInfo(id=info.id, path=info.path)
    ended.end(EndReason.CLIENT_DISCONNECTED)
    return ("close", ended)


def test_a_stream_that_ends_within_the_hold_is_one_insert_of_its_ended_row() -> None:
    held: dict[uuid.UUID, Any] = {}
    info = StreamInfo(path="/sse2")
    assert sessions._sort_changes([opened(info)], held, everything=False) == ([], [])
    creates, ends = sessions._sort_changes([closed(info)], held, everything=False)
    assert [(row.id, row.end_reason) for row in creates] == [(info.id, EndReason.CLIENT_DISCONNECTED)]
    assert ends == []
    assert held == {}


def test_an_open_older_than_the_hold_is_inserted_and_its_end_is_an_update() -> None:
    held: dict[uuid.UUID, Any] = {}
    old, young = StreamInfo(path="/old"), StreamInfo(path="/young")
    sessions._sort_changes([opened(old), opened(young)], held, everything=False)
    held[old.id] = (held[old.id][0] - sessions._HOLD, old)  # queued one hold ago
    creates, ends = sessions._sort_changes([], held, everything=False)
    assert creates == [old]
    assert list(held) == [young.id]
    creates, ends = sessions._sort_changes([closed(old)], held, everything=False)
    assert (creates, [row.id for row in ends]) == ([], [old.id])


def test_a_flush_writes_every_held_open() -> None:
    held: dict[uuid.UUID, Any] = {}
    first, second = StreamInfo(), StreamInfo()
    creates, ends = sessions._sort_changes([opened(first), opened(second)], held, everything=True)
    assert (creates, ends, held) == ([first, second], [], {})


def test_a_live_stream_is_written_once_it_is_older_than_the_hold(recorder: SessionRecorder) -> None:
    release = asyncio.Event()

    async def one_then_wait() -> AsyncIterator[ServerSentEvent]:
        yield echo(0)
        await release.wait()

    def live_row(stream_id: uuid.UUID) -> StreamSession | None:
        try:
            return StreamSession.objects.filter(pk=stream_id, ended_at__isnull=True).first()
        except OperationalError:
            return None  # the in-memory test database reports a lock while the writer commits
        finally:
            connection.close()  # this worker thread's own connection

    async def main() -> StreamSession:
        response = EventStreamResponse(one_then_wait(), ping=None, request=request())
        try:
            async with aclosing(body_of(response)) as body:
                await next_chunks(body, 1)
                row = await asyncio.to_thread(
                    wait_for, lambda: live_row(response.info.id), timeout=10, what="the live row"
                )
                release.set()
                assert [chunk async for chunk in body if chunk] == [DONE]
        finally:
            response.close()
        return row

    row = run(main())  # no flush: the writer wakes for the held open by itself
    assert row.path == "/sse2"
    assert only_row(recorder).end_reason == EndReason.COMPLETED


def test_a_flush_does_not_wait_out_the_writers_linger(
    recorder: SessionRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "_LINGER", 3600.0)  # a batch would gather for an hour
    response = EventStreamResponse(events(echo(0)), ping=None, request=request())

    run(consume(response))

    assert only_row(recorder).end_reason == EndReason.COMPLETED  # flushed within its 10 s


def test_a_writer_behind_its_queue_takes_batch_after_batch_without_lingering(
    recorder: SessionRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "_LINGER", 3600.0)
    monkeypatch.setattr(sessions, "_BATCH", 2)  # five streams: ten changes, five full batches
    responses = [EventStreamResponse(events(echo(0)), ping=None, request=request()) for _ in range(5)]

    async def main() -> None:
        for response in responses:
            await consume(response)

    run(main())

    # The flush cuts the first linger short; a batch after a full one must not linger at all.
    assert {row.id for row in flushed(recorder)} == {response.info.id for response in responses}


@pytest.mark.parametrize("ended", [False, True], ids=["live", "ended"])
@pytest.mark.django_db
def test_the_writers_values_are_what_djangos_field_preparation_makes_of_them(
    ended: bool, django_user_model: Any
) -> None:
    from django.db import connections

    user = django_user_model.objects.create_user("bob")
    info = StreamInfo(
        path="/sse2", query="message=hi", client="::ffff:127.0.0.1", user_agent="ua", user_id=user.pk
    )
    info.saw_event("echo")
    if ended:
        info.end(EndReason.ERROR, "ValueError: boom")
    row = sessions._row(info, sessions.server_id())
    connection = connections[StreamSession.objects.db]
    fields: list[Any] = [StreamSession._meta.get_field(name) for name in row]
    expected = [
        field.get_db_prep_save(value, connection) for field, value in zip(fields, row.values(), strict=True)
    ]

    assert writer._db_rows(fields, [list(row.values())], connection) == [expected]


def _rows_for(count: int, user_id: int | None) -> list[dict[str, Any]]:
    infos = [
        StreamInfo(path="/sse2", query=f"n={n}", client="127.0.0.1", user_agent="ua\tx", user_id=user_id)
        for n in range(count)
    ]
    for n, info in enumerate(infos):
        info.saw_event("echo")
        if n % 2:
            info.end(EndReason.ERROR, "ValueError: a\nmultiline \\ error")
    return [sessions._row(info, sessions.server_id()) for info in infos]


@pytest.mark.django_db
def test_inserted_rows_read_back_as_written(django_user_model: Any) -> None:
    # COPY on PostgreSQL, executemany elsewhere: tabs, newlines and backslashes survive either.
    user = django_user_model.objects.create_user("carol")
    rows = _rows_for(6, user.pk)
    writer.insert_many([dict(row) for row in rows])

    stored = {s.id: s for s in StreamSession.objects.all()}
    assert set(stored) == {row["id"] for row in rows}
    for row in rows:
        got = stored[row["id"]]
        assert (got.user_agent, got.error, got.user_id) == (row["user_agent"], row["error"], user.pk)
        assert (got.started_at, got.ended_at, got.events_sent) == (
            row["started_at"], row["ended_at"], row["events_sent"],
        )  # fmt: skip


@pytest.mark.django_db
def test_a_batch_written_again_skips_the_rows_already_there() -> None:
    rows = _rows_for(4, None)
    writer.insert_many([dict(row) for row in rows[:2]])  # committed before the error, say
    writer.insert_many([dict(row) for row in rows], skip_existing=True)
    assert sorted(StreamSession.objects.values_list("query", flat=True)) == [f"n={n}" for n in range(4)]


# -- a row the database refuses: dropped alone, the rest of its batch written --------------------


def test_a_row_the_database_refuses_is_dropped_and_the_rest_of_its_batch_is_written(
    recorder: SessionRecorder, django_user_model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Two rows the database really refuses in one batch of eight: a negative counter (the CHECK
    constraint of a positive integer column, on SQLite and PostgreSQL alike) and a user deleted
    before the row was written (the foreign key, checked at commit). The six others are kept."""
    gone = django_user_model.objects.create_user("gone")
    gone_id = gone.pk
    gone.delete()
    infos = [StreamInfo(path=f"/sse2/{n}", client="127.0.0.1") for n in range(8)]
    infos[2].events_sent = -1
    infos[5].user_id = gone_id
    for info in infos:
        info.end(EndReason.COMPLETED)

    async def main() -> None:
        for info in infos:
            await recorder.stream_opened(info, None)
        for info in infos:  # all queued before the writer's linger ends: one batch
            recorder.stream_closed(info)

    with caplog.at_level("INFO", logger="echo.sessions"):
        run(main())
        rows = flushed(recorder)

    assert sorted(row.path for row in rows) == [f"/sse2/{n}" for n in (0, 1, 3, 4, 6, 7)]
    assert all(row.end_reason == EndReason.COMPLETED for row in rows)
    dropped = [r.getMessage() for r in caplog.records if "Could not record stream session " in r.getMessage()]
    assert len(dropped) == 2, dropped
    assert any(str(infos[2].id) in line and "IntegrityError" in line for line in dropped), dropped
    assert any(str(infos[5].id) in line for line in dropped), dropped
    assert not [r for r in caplog.records if "change(s) dropped" in r.getMessage()]


def test_credentials_in_the_query_are_recorded_redacted(recorder: SessionRecorder) -> None:
    query = "token=abc&message=hi&Access_Token=def&pin=1234"
    response = EventStreamResponse(events(echo(0)), ping=None, request=request(QUERY_STRING=query))
    run(consume(response))
    assert only_row(recorder).query == "token=[redacted]&message=hi&Access_Token=[redacted]&pin=1234"


def test_the_secret_parameters_are_a_setting(recorder: SessionRecorder) -> None:
    response = EventStreamResponse(
        events(echo(0)), ping=None, request=request(QUERY_STRING="token=abc&pin=1")
    )
    with override_settings(ECHO={"SECRET_QUERY_PARAMETERS": ["PIN"]}):
        run(consume(response))
        assert only_row(recorder).query == "token=abc&pin=[redacted]"
