"""`echo.bus`: ending sessions served in this process, directly and through the channels layer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.test import RequestFactory, override_settings

from echo.sessions import bus
from echo.sse import EventStreamResponse, ServerSentEvent
from echo.sse.runtime.registry import registry

from ..loops import run
from ..servers import free_port
from ..whatwg import parse


async def waiting_source(started: asyncio.Event, finished: list[str]) -> AsyncIterator[ServerSentEvent]:
    """One event, then nothing until the stream is ended from outside."""
    try:
        yield ServerSentEvent(id=0, event="echo", data="hi")
        started.set()
        await asyncio.Event().wait()
        yield ServerSentEvent(id=1, event="echo", data="never")  # pragma: no cover
    finally:
        finished.append("source")


def body_of(response: EventStreamResponse) -> AsyncGenerator[bytes, None]:
    body = aiter(response)
    assert isinstance(body, AsyncGenerator)  # so it can be closed, as the ASGI handler does
    return body


class Stream:
    """An in-process stream read by a task, as Django's ASGI handler would read it."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finished: list[str] = []
        self.response = EventStreamResponse(
            waiting_source(self.started, self.finished),
            ping=None,
            request=RequestFactory().get("/sse2"),
            record=False,  # the bus works on the live registry, with or without a recorder
        )
        self.chunks: list[bytes] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async with aclosing(body_of(self.response)) as body:
                async for chunk in body:
                    self.chunks.append(chunk)
        finally:
            self.response.close()

    @property
    def id(self) -> uuid.UUID:
        return self.response.info.id

    async def until_started(self) -> None:
        async with asyncio.timeout(5):
            await self.started.wait()

    async def until_ended(self) -> None:
        async with asyncio.timeout(5):
            await self.task

    async def cancel(self) -> None:
        self.task.cancel()
        await asyncio.wait({self.task})
        assert self.task.cancelled() or self.task.exception() is None


def test_end_local_ends_a_live_stream_with_a_terminated_event() -> None:
    async def main() -> Stream:
        stream = Stream()
        await stream.until_started()
        assert registry.find(stream.id) is stream.response

        assert bus.end_local([stream.id]) == 1

        await stream.until_ended()
        return stream

    stream = run(main())

    wire = parse(b"".join(stream.chunks))
    assert [(event.type, event.data) for event in wire.events] == [
        ("echo", "hi"),
        ("terminated", '{"reason":"terminated"}'),
    ]
    assert wire.retry == 3000
    assert stream.chunks[-1] == bus.terminated_event().encode()
    assert b"retry: 3000\n" in stream.chunks[-1]
    assert stream.finished == ["source"]
    assert stream.response.info.end_reason == "terminated"
    assert registry.find(stream.id) is None


def test_terminated_event_carries_the_configured_retry() -> None:
    with override_settings(ECHO={"FINAL_RETRY": 1234}):
        event = bus.terminated_event()
    assert (event.event, event.retry) == ("terminated", 1234)
    assert parse(event.encode()).retry == 1234


def test_end_local_accepts_string_ids_and_ignores_unknown_ones() -> None:
    async def main() -> tuple[int, Stream, Stream]:
        ended, untouched = Stream(), Stream()
        await ended.until_started()
        await untouched.until_started()

        count = bus.end_local([str(ended.id), uuid.uuid4(), str(uuid.uuid4())])

        await ended.until_ended()
        assert not untouched.task.done()
        await untouched.cancel()
        return count, ended, untouched

    count, ended, untouched = run(main())

    assert count == 1
    assert ended.response.info.end_reason == "terminated"
    assert untouched.response.info.end_reason == "client_disconnected"
    assert b"terminated" not in b"".join(untouched.chunks)


def test_end_local_after_the_stream_is_gone_finds_nothing() -> None:
    async def main() -> int:
        stream = Stream()
        await stream.until_started()
        await stream.cancel()
        return bus.end_local([stream.id])

    assert run(main()) == 0


def listener_channels(layer: Any) -> set[str]:
    return {name for name in layer.groups.get(bus.GROUP, {}) if name.startswith("echo-bus.")}


def test_terminate_sessions_reaches_the_listener_and_ends_the_stream() -> None:
    layer: Any = get_channel_layer()

    async def main() -> tuple[Stream, Stream]:
        before = listener_channels(layer)
        await bus.ensure_listener()  # returns once the listener has joined the group
        await bus.ensure_listener()  # one listener per loop
        assert len(listener_channels(layer) - before) == 1
        target, bystander = Stream(), Stream()
        await target.until_started()
        await bystander.until_started()

        await bus.aterminate_sessions([target.id, uuid.uuid4()])

        await target.until_ended()
        assert not bystander.task.done()
        await bystander.cancel()
        return target, bystander

    target, bystander = run(main())

    assert parse(b"".join(target.chunks)).events[-1].type == "terminated"
    assert target.response.info.end_reason == "terminated"
    assert bystander.response.info.end_reason == "client_disconnected"
    # The loop's end cancelled the listener, which left the group.
    assert not listener_channels(layer)


def test_sync_terminate_sessions_from_a_sync_view_thread_reaches_the_listener() -> None:
    """The admin action calls the sync API from a thread of the server's loop, as Django runs views."""

    async def main() -> Stream:
        await bus.ensure_listener()
        assert listener_channels(get_channel_layer())
        stream = Stream()
        await stream.until_started()

        await sync_to_async(bus.terminate_sessions)([stream.id])

        await stream.until_ended()
        return stream

    stream = run(main())

    assert stream.response.info.end_reason == "terminated"
    assert stream.chunks[-1] == bus.terminated_event().encode()


def test_terminate_sessions_without_a_listener_is_harmless() -> None:
    async def main() -> Stream:
        stream = Stream()
        await stream.until_started()
        await bus.aterminate_sessions([stream.id])
        assert not stream.task.done()
        await stream.cancel()
        return stream

    assert run(main()).response.info.end_reason == "client_disconnected"


def unreachable_layer() -> dict[str, Any]:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [dead]}}}


def test_terminate_with_the_layer_unreachable_ends_the_sessions_served_here_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> tuple[bool, Stream]:
        stream = Stream()
        await stream.until_started()
        reached = await bus.aterminate_sessions([stream.id, uuid.uuid4()])
        await stream.until_ended()
        return reached, stream

    with override_settings(CHANNEL_LAYERS=unreachable_layer()):
        reached, stream = run(main())

    assert reached is False
    assert stream.response.info.end_reason == "terminated"
    assert "Could not ask the other processes to terminate 2 session(s)" in caplog.text
    assert "ended the 1 served here" in caplog.text


class UserStream(Stream):
    """A recorded stream of a signed-in user (its row is the recorder's to write)."""

    def __init__(self, user: Any) -> None:
        self.started = asyncio.Event()
        self.finished: list[str] = []
        request = RequestFactory().get("/sse2")

        async def auser() -> Any:
            return user

        request.auser = auser  # type: ignore[attr-defined]
        self.response = EventStreamResponse(
            waiting_source(self.started, self.finished), ping=None, request=request
        )
        self.chunks = []
        self.task = asyncio.create_task(self._read())


@pytest.mark.parametrize("change", ["deactivated", "deleted"])
@pytest.mark.django_db(transaction=True)
def test_a_user_deactivated_or_deleted_has_every_stream_ended(
    change: str, django_user_model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from echo.sessions.recorder import recorder

    alice = django_user_model.objects.create_user("alice")
    bob = django_user_model.objects.create_user("bob")

    def change_alice() -> None:
        if change == "deactivated":
            alice.is_active = False
            alice.save()
        else:
            alice.delete()

    async def main() -> tuple[list[Stream], Stream]:
        hers = [UserStream(alice), UserStream(alice)]
        his = UserStream(bob)
        for stream in [*hers, his]:
            await stream.until_started()
        await sync_to_async(change_alice)()
        for stream in hers:
            await stream.until_ended()
        await asyncio.sleep(0.05)  # bob's stream would have ended by now
        assert not his.task.done()
        await his.cancel()
        return hers, his

    try:
        with caplog.at_level("INFO", logger="echo"):
            hers, his = run(main())
    finally:
        assert recorder.flush(10)
    for stream in hers:
        assert stream.response.info.end_reason == "terminated"
        assert parse(b"".join(stream.chunks)).events[-1].type == "terminated"
    assert his.response.info.end_reason == "client_disconnected"
    what = "deactivation" if change == "deactivated" else "deletion"
    assert f"Terminate requested by the {what} of user alice (id " in caplog.text


@pytest.mark.django_db(transaction=True)
def test_saving_an_active_user_ends_nothing(django_user_model: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="echo"):
        user = django_user_model.objects.create_user("carol")
        user.first_name = "Carol"
        user.save()
    assert "Terminate" not in caplog.text
