"""`EventStreamResponse` driven the way Django's ASGI handler drives it: `aiter(response)` on a loop.

`record=False` keeps the session recorder (and so the database) out: these are the response's own
tests. Each response is closed at the end, as Django closes it, so none stays registered as live.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing
from typing import Any, TypeVar

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import RequestFactory, override_settings
from pydantic import BaseModel

from echo.sse import (
    BaseEvent,
    EndReason,
    EventStreamResponse,
    ServerSentEvent,
    StreamItem,
    StreamTypeError,
    current_response,
)
from echo.sse.glue.response import ERROR_EVENT
from echo.sse.runtime.protocols import DirectSend, Message
from echo.sse.wire.control import StreamErrorPayload, StreamFailed
from echo.sse.wire.endings import StreamEnd

from ..loops import run

T = TypeVar("T")
# What a stream whose source ran out sends last (issue 31).
DONE = b'event: completed\ndata: {"reason":"completed"}\n\n'

PING = b": ping\n\n"


@pytest.fixture
def responses() -> Iterator[Callable[..., EventStreamResponse]]:
    """Builds responses (not recorded) and closes each one after the test, as Django would."""
    made: list[EventStreamResponse] = []

    def make(stream: Any, **kwargs: Any) -> EventStreamResponse:
        response = EventStreamResponse(stream, record=False, **kwargs)
        made.append(response)
        return response

    yield make
    # As Django's test client closes a response: without `close_old_connections`, which would
    # touch a database connection another test may have opened.
    request_finished.disconnect(close_old_connections)
    try:
        for response in made:
            response.close()
    finally:
        request_finished.connect(close_old_connections)


# An empty body part carries nothing to the client (the response may send one to make the server
# flush the headers), so the chunks compared below leave empty ones out.


def body(response: EventStreamResponse) -> AsyncGenerator[bytes, None]:
    """`aiter(response)`, typed as the async generator it is (as Django's handler closes it)."""
    parts = aiter(response)
    assert isinstance(parts, AsyncGenerator)
    return parts


async def chunks_of(response: EventStreamResponse) -> list[bytes]:
    async with asyncio.timeout(10):
        return [chunk async for chunk in body(response) if chunk]


async def next_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    while not (chunk := await anext(chunks)):
        pass
    return chunk


class Greeting(BaseModel):
    text: str


class Greeted(BaseEvent[Greeting]):
    pass


class Recorder:
    """What happened to a source: started, how far it got, whether its `finally` completed."""

    def __init__(self) -> None:
        self.started = False
        self.produced = 0
        self.closed = False

    async def items(self, items: list[Any], *, then: str = "end") -> AsyncIterator[Any]:
        """`items`, then: "end"; "wait" in an `await` for good; "repeat" the last item for good."""
        self.started = True
        try:
            for item in items:
                self.produced += 1
                yield item
            while then == "repeat":
                self.produced += 1
                yield items[-1]
            if then == "wait":
                await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # clean-up that itself awaits must also complete
            self.closed = True

    async def endless(self) -> AsyncIterator[StreamItem]:
        self.started = True
        try:
            while True:
                self.produced += 1
                yield f"item {self.produced}"
        finally:
            await asyncio.sleep(0)
            self.closed = True


def test_response_encodes_each_item_as_one_chunk(responses: Callable[..., EventStreamResponse]) -> None:
    source = Recorder()
    items: list[StreamItem] = [
        ServerSentEvent(id=1, event="greeting", data="hi"),
        Greeted.create(Greeting(text="hey")),
        "plain text",
        ServerSentEvent(data="two\nlines"),
    ]
    response = responses(source.items(items), ping=None, retry=None)

    assert run(chunks_of(response)) == [
        b"id: 1\nevent: greeting\ndata: hi\n\n",
        b'event: greeted\ndata: {"text":"hey"}\n\n',
        b"data: plain text\n\n",
        b"data: two\ndata: lines\n\n",
        DONE,
    ]
    assert source.closed


def test_response_sends_retry_before_the_first_event(responses: Callable[..., EventStreamResponse]) -> None:
    response = responses(Recorder().items(["x"]), ping=None, retry=2500)

    assert run(chunks_of(response)) == [b"retry: 2500\n\n", b"data: x\n\n", DONE]


def test_response_pings_while_the_source_is_idle(responses: Callable[..., EventStreamResponse]) -> None:
    gate = asyncio.Event()

    async def slow() -> AsyncIterator[StreamItem]:
        yield "first"
        await gate.wait()  # opened by the consumer only after it has seen a ping
        yield "second"

    async def main() -> tuple[list[bytes], list[bytes]]:
        async with asyncio.timeout(10), aclosing(body(response)) as chunks:
            head = [await next_chunk(chunks), await next_chunk(chunks)]
            gate.set()
            return head, [chunk async for chunk in chunks if chunk]

    response = responses(slow(), ping=0.05, retry=None)
    head, rest = run(main())

    assert head == [b"data: first\n\n", PING]
    # More pings before "second" would need the loop to stall for 0.05 s: allowed, not required.
    assert [chunk for chunk in rest if chunk != PING] == [b"data: second\n\n", DONE]


def test_response_sends_no_ping_while_items_keep_coming(
    responses: Callable[..., EventStreamResponse],
) -> None:
    # A ping needs the consumer to wait a whole ping interval for an item. This source never makes
    # it wait at all, so with 1 s (far beyond any scheduling hiccup) there is no ping to see.
    source = Recorder()
    response = responses(source.items([f"n{n}" for n in range(50)]), ping=1.0, retry=None)

    chunks = run(chunks_of(response))

    assert chunks == [*(f"data: n{n}\n\n".encode() for n in range(50)), DONE]


class DirectSender(DirectSend):
    """An ASGI `send` with the synchronous `write_now(body)` Daphne's has under `echo.server`."""

    def __init__(self, *, accepts: bool = True) -> None:
        self.accepts = accepts
        self.sent: list[bytes] = []
        self.written: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        self.sent.append(message.get("body", b""))

    def write_now(self, body: bytes) -> bool:
        if self.accepts:
            self.written.append(body)
        return self.accepts


async def consume(response: EventStreamResponse, chunks: list[bytes]) -> None:
    """Read the body into `chunks`, in a task of its own as the handler's (`end_stream` cancels it)."""
    async with aclosing(body(response)) as parts:
        async for chunk in parts:
            if chunk:
                chunks.append(chunk)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0)


def test_write_now_sends_only_while_the_stream_waits_on_its_source(
    responses: Callable[..., EventStreamResponse],
) -> None:
    seen_by_source: list[EventStreamResponse | None] = []

    async def source() -> AsyncIterator[StreamItem]:
        seen_by_source.append(current_response())
        yield ServerSentEvent(id="1", event="first", data="a")
        await asyncio.Event().wait()
        yield "never"

    async def main() -> tuple[EventStreamResponse, list[bool], DirectSender, list[bytes]]:
        response = responses(source(), ping=None)
        sender = DirectSender()
        outcomes = [response.write_now(ServerSentEvent(data="before the stream"))]
        response.attach_sender(sender)
        chunks: list[bytes] = []
        reader = asyncio.ensure_future(consume(response, chunks))
        await until(lambda: bool(chunks))
        # The reader has the first chunk and is back waiting on the source, or about to be.
        await until(lambda: response.write_now(ServerSentEvent(id="2", event="second", data="b")))
        response.end_stream(EndReason.TERMINATED)
        outcomes.append(response.write_now(ServerSentEvent(data="while ending")))
        async with asyncio.timeout(10):
            await reader
        outcomes.append(response.write_now(ServerSentEvent(data="after the end")))
        return response, outcomes, sender, chunks

    response, outcomes, sender, chunks = run(main())
    first = b"id: 1\nevent: first\ndata: a\n\n"
    assert outcomes == [False, False, False]
    assert chunks == [first]
    assert sender.written == [b"id: 2\nevent: second\ndata: b\n\n"]
    assert seen_by_source == [response]
    info = response.info
    assert (info.events_sent, info.last_event_id, info.name) == (2, "2", "first+second")
    assert info.bytes_sent == len(first) + len(sender.written[0])
    assert info.end_reason is EndReason.TERMINATED


async def plain_send(message: dict[str, Any]) -> None:
    pass


@pytest.mark.parametrize("send", [plain_send, DirectSender(accepts=False)], ids=["no-write-now", "refused"])
def test_write_now_is_false_when_the_server_cannot_write_at_once(
    responses: Callable[..., EventStreamResponse], send: Any
) -> None:
    async def main() -> list[bool]:
        response = responses(Recorder().items(["one"], then="wait"), ping=None)
        response.attach_sender(send)
        chunks: list[bytes] = []
        reader = asyncio.ensure_future(consume(response, chunks))
        await until(lambda: bool(chunks))
        refused = [response.write_now(ServerSentEvent(data="x")) for _ in range(100)]
        for _ in range(3):
            await asyncio.sleep(0)
            refused.append(response.write_now(ServerSentEvent(data="x")))
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        return refused

    assert not any(run(main()))


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(["data"], id="list"),
        pytest.param(("data",), id="tuple"),
        pytest.param(iter(["data"]), id="iterator"),
        pytest.param((item for item in ["data"]), id="generator"),
    ],
)
def test_response_refuses_a_sync_iterable(stream: Any) -> None:
    with pytest.raises(StreamTypeError, match="needs an async iterable, got a sync iterable"):
        EventStreamResponse(stream, record=False)


def test_response_refuses_an_async_generator_function_that_was_not_called() -> None:
    async def stream() -> AsyncIterator[str]:
        yield "data"

    with pytest.raises(TypeError, match="needs an async iterable, got function"):
        EventStreamResponse(stream, record=False)  # type: ignore[arg-type]


def test_stream_type_error_is_a_type_error() -> None:
    assert issubclass(StreamTypeError, TypeError)


@pytest.mark.parametrize("ping", [None, 0.5])
@pytest.mark.parametrize(
    ("item", "kind"), [(42, "int"), (b"data: raw\n\n", "bytes"), ({"message": "hi"}, "dict")]
)
def test_response_refuses_an_item_of_unknown_type(
    responses: Callable[..., EventStreamResponse], ping: float | None, item: object, kind: str
) -> None:
    source = Recorder()
    # Ready with more after the bad item, so the source sits at a `yield` when the response stops.
    response = responses(source.items(["fine", item, "more"], then="repeat"), ping=ping, retry=None)
    received: list[bytes] = []

    async def main() -> None:
        async with aclosing(body(response)) as chunks:
            async for chunk in chunks:
                if chunk:
                    received.append(chunk)

    run(main())
    # The bad item ends the stream like any error in its source: the body ends at once with
    # the error event, and the error is the stream's recorded end.
    assert received == [b"data: fine\n\n", ERROR_EVENT]
    assert response.info.end_reason == EndReason.ERROR
    assert response.info.error.startswith("StreamTypeError: ")
    assert f"yields ServerSentEvent, BaseEvent or str, not {kind}" in response.info.error
    assert source.closed


@pytest.mark.parametrize("ping", [None, 0.5])
def test_a_source_error_ends_the_body_with_an_error_event_and_is_logged_once(
    responses: Callable[..., EventStreamResponse], ping: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    closed = []

    async def failing() -> AsyncIterator[StreamItem]:
        try:
            yield "before"
            raise ValueError("source broke")
        finally:
            closed.append(True)

    response = responses(failing(), ping=ping, retry=None)
    received: list[bytes] = []

    async def main() -> None:
        async with aclosing(body(response)) as chunks:
            async for chunk in chunks:
                if chunk:
                    received.append(chunk)

    run(main())
    assert received == [b"data: before\n\n", ERROR_EVENT]
    assert closed == [True]
    assert (response.info.end_reason, response.info.error) == (EndReason.ERROR, "ValueError: source broke")
    (record,) = [r for r in caplog.records if r.name == "echo.sse"]
    assert record.levelname == "ERROR"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "source broke"


@pytest.mark.parametrize("ping", [None, 0.5])
def test_without_the_error_event_a_failed_body_just_ends(
    responses: Callable[..., EventStreamResponse], ping: float | None
) -> None:
    async def failing() -> AsyncIterator[StreamItem]:
        yield "before"
        raise ValueError("source broke")

    with override_settings(ECHO={"ERROR_EVENT": False}):
        response = responses(failing(), ping=ping, retry=None)

        async def main() -> list[bytes]:
            async with aclosing(body(response)) as chunks:
                return [chunk async for chunk in chunks if chunk]

        assert run(main()) == [b"data: before\n\n"]


FAILED = StreamFailed(data=StreamErrorPayload(condition="overflow", text="behind"))


@pytest.mark.parametrize("mode", ["pumped", "pumped-ping", "direct"])
@pytest.mark.parametrize(
    ("end", "last"),
    [
        (
            StreamEnd(EndReason.FELL_BEHIND, FAILED),
            b'event: stream-error\ndata: {"condition":"overflow","text":"behind"}\n\n',
        ),
        (StreamEnd(EndReason.ERROR), ERROR_EVENT),
        (StreamEnd(EndReason.COMPLETED), DONE),
    ],
    ids=["own-final", "reason-s-final", "completed"],
)
def test_a_source_ends_its_stream_with_a_reason_of_its_own(
    responses: Callable[..., EventStreamResponse], mode: str, end: StreamEnd, last: bytes | None
) -> None:
    source = Recorder()
    # Ready with more after the end, so the source sits at a `yield` when the response stops.
    response = responses(
        source.items(["first", end, "never"]), ping=0.5 if mode == "pumped-ping" else None, retry=None
    )
    if mode == "direct":
        response.attach_sender(DirectSender())

    received = run(chunks_of(response))

    assert received == [b"data: first\n\n", *([last] if last else [])]
    assert response.info.end_reason is end.reason
    assert response.info.events_sent == 1  # a final event counts as bytes, as the toolkit's own
    assert response.info.bytes_sent == sum(map(len, received))
    assert source.closed


def test_an_end_asked_for_first_wins_over_the_source_s(
    responses: Callable[..., EventStreamResponse],
) -> None:
    source = Recorder()
    response = responses(source.items([StreamEnd(EndReason.FELL_BEHIND, FAILED)]), ping=None, retry=None)
    response.end_stream(EndReason.TERMINATED, ServerSentEvent(event="terminated", data="{}"))

    assert run(chunks_of(response)) == [b"event: terminated\ndata: {}\n\n"]
    assert response.info.end_reason is EndReason.TERMINATED


def test_a_slow_client_outranks_the_source_s_own_end(responses: Callable[..., EventStreamResponse]) -> None:
    source = Recorder()
    end = StreamEnd(EndReason.FELL_BEHIND, FAILED)
    response = responses(source.items(["first", end]), ping=None, retry=None)
    response.attach_sender(DirectSender())

    async def stalled_reader(chunks: list[bytes]) -> None:
        # Takes the final event, then stops, as a client that stopped reading leaves the send.
        async with aclosing(body(response)) as parts:
            async for chunk in parts:
                if chunk:
                    chunks.append(chunk)
                if len(chunks) == 2:
                    await asyncio.Event().wait()

    async def main() -> list[bytes]:
        chunks: list[bytes] = []
        reader = asyncio.ensure_future(stalled_reader(chunks))
        await until(lambda: len(chunks) == 2)
        response.end_slow()  # cancels the stream's task, as the pinger's sweep does
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        return chunks

    assert run(main())[0] == b"data: first\n\n"
    assert response.info.end_reason is EndReason.SLOW_CLIENT
    assert source.closed


@pytest.mark.parametrize("ping", [None, 0.5])
@pytest.mark.parametrize("suspended", ["at-yield", "in-await"])
def test_closing_the_response_early_runs_the_source_finally(
    responses: Callable[..., EventStreamResponse], ping: float | None, suspended: str
) -> None:
    source = Recorder()
    # "at-yield": always ready, so it sits at a `yield` (or waits to hand an item over);
    # "in-await": stuck in its own `await` after the first item.
    stream = source.endless() if suspended == "at-yield" else source.items(["only"], then="wait")
    response = responses(stream, ping=ping, retry=None)

    async def main() -> tuple[bytes, bool]:
        chunks = body(response)
        first = await next_chunk(chunks)
        await chunks.aclose()  # what Django does when the client goes away
        return first, source.closed  # read at once: nothing else has run since aclose returned

    first, closed_by_aclose = run(main())

    assert first in {b"data: item 1\n\n", b"data: only\n\n"}
    assert closed_by_aclose
    assert source.produced <= 2  # the response never runs the source far ahead


@pytest.mark.parametrize("bind", ["bind", "request="])
def test_head_request_gets_no_body_and_never_starts_the_source(
    responses: Callable[..., EventStreamResponse], bind: str
) -> None:
    request = RequestFactory().head("/sse2?message=hi")
    source = Recorder()
    if bind == "bind":
        response = responses(source.endless(), ping=0.05, retry=1000)
        response.bind(request)
    else:
        response = responses(source.endless(), ping=0.05, retry=1000, request=request)

    assert run(chunks_of(response)) == []
    assert not source.started
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"


def test_get_request_streams_as_usual(responses: Callable[..., EventStreamResponse]) -> None:
    source = Recorder()
    response = responses(source.items(["x"]), ping=None, retry=None)
    response.bind(RequestFactory().get("/sse2?message=hi"))

    assert run(chunks_of(response)) == [b"data: x\n\n", DONE]
    assert source.started


def test_response_sets_event_stream_headers(responses: Callable[..., EventStreamResponse]) -> None:
    response = responses(Recorder().items([]), ping=None, retry=None)

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    assert run(chunks_of(response)) == [DONE]


def test_response_adds_headers_given_by_the_caller(responses: Callable[..., EventStreamResponse]) -> None:
    response = responses(
        Recorder().items([]),
        ping=None,
        retry=None,
        headers={"X-Stream": "demo", "Access-Control-Allow-Origin": "*"},
    )

    assert response["X-Stream"] == "demo"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert run(chunks_of(response)) == [DONE]
