"""Declared events (`echo.sse.glue.contract`) and the in-process reader (`echo.sse.glue.testing`)."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings
from pydantic import ValidationError

from echo.sse import ServerSentEvent
from echo.sse.glue.contract import StreamContract, UnknownEvent, contract_of, declare
from echo.sse.glue.testing import open_stream, read_events
from echo.sse.wire.control import Completed, EndPayload, Shutdown, StreamOpen
from echo.sse.wire.endings import EndReason

from ..loops import run
from .contract_urls import TICKS, Stray, Tick, async_tick_view, plain_view, tick_view

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.sse.contract_urls")]


def test_a_contract_names_its_events_and_the_control_events() -> None:
    assert TICKS.events == (Tick,)
    assert TICKS.names == {"tick", "completed", "shutdown", "terminated", "error", "slow_client"}
    assert TICKS.event_type("shutdown") is Shutdown
    assert repr(TICKS) == "StreamContract(Tick, ids='plain')"


def test_a_contract_refuses_what_it_could_not_keep() -> None:
    with pytest.raises(TypeError, match="at least one event type"):
        StreamContract()
    with pytest.raises(TypeError, match="BaseEvent subclass"):
        StreamContract(int)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="two declared events are named 'shutdown'"):
        StreamContract(type("Shutdown", (Tick,), {}))
    with pytest.raises(ValueError, match="ids is one of none, plain, composite, channel"):
        StreamContract(Tick, ids="uuid")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes no options"):
        declare(TICKS, ids="none")  # type: ignore[call-overload]


def test_declare_records_the_contract_on_sync_and_async_views() -> None:
    assert contract_of(tick_view) is TICKS
    async_contract = contract_of(async_tick_view)
    assert async_contract is not None
    assert (async_contract.events, async_contract.ids) == ((Tick,), "none")
    assert contract_of(plain_view) is None


def test_parse_reads_declared_control_and_unknown_events() -> None:
    assert TICKS.parse(ServerSentEvent(event="tick", data="3", id="3")) == Tick(data=3)
    final = ServerSentEvent(event="shutdown", data='{"reason":"server_shutdown"}')
    assert TICKS.parse(final) == Shutdown(data=EndPayload(reason=EndReason.SERVER_SHUTDOWN))
    assert TICKS.parse(ServerSentEvent(event="later", data="x", id="9")) == UnknownEvent("later", "x", "9")
    assert TICKS.parse(ServerSentEvent(data="x")) == UnknownEvent("message", "x")
    with pytest.raises(ValidationError):
        TICKS.parse(ServerSentEvent(event="tick", data='"three"'))
    assert StreamOpen.from_data("") == StreamOpen(data="")


def test_the_reader_reads_events_in_process_and_resumes_from_the_last_id() -> None:
    async def scenario() -> None:
        async with open_stream("/ticks") as stream:
            assert stream.status == 200
            assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
            first = await stream.read(3)
            assert [(e.event, e.data, e.id) for e in first] == [("tick", str(n), str(n)) for n in range(3)]
            assert await stream.read_typed(2) == [Tick(data=3), Tick(data=4)]
            assert stream.last_event_id == "4"
        async with stream.reconnect() as again:
            assert [e.id for e in await again.read(2)] == ["5", "6"]

    run(scenario())


def test_the_reader_gives_a_refusal_as_json_and_a_short_stream_as_it_ends() -> None:
    async def scenario() -> None:
        async with open_stream("/ticks", query={"refuse": "1"}) as refused:
            assert (refused.status, refused.json()["error"]) == (400, "invalid_parameter")
            assert await refused.read(1) == []
        async with open_stream("/async-ticks") as short:
            assert await short.read_typed(5) == [
                Tick(data=7),
                Completed(data=EndPayload(reason=EndReason.COMPLETED)),
            ]
            assert short.ended

    run(scenario())


def test_reading_more_than_comes_is_a_timeout_not_a_hang() -> None:
    async def scenario() -> None:
        async with open_stream("/ticks") as stream:
            await stream.read(1)
        # A stream that sends nothing more: the reader gives up after its timeout.
        async with open_stream("/plain") as plain:
            assert [e.data for e in await plain.read(2)] == ["a", "b"]
            with pytest.raises(LookupError, match="not a view with declared events"):
                await plain.read_typed(1)

    run(scenario())


def test_read_events_from_sync_code() -> None:
    assert [e.data for e in read_events("/ticks", 2)] == ["0", "1"]


@override_settings(DEBUG=True)
def test_an_undeclared_event_ends_the_stream_while_developing(caplog: pytest.LogCaptureFixture) -> None:
    events = read_events("/ticks?stray=2", 5)

    assert [(e.event, e.data) for e in events] == [
        ("tick", "0"),
        ("tick", "1"),
        ("error", '{"reason":"error"}'),
    ]
    assert "sent event 'stray', which its view does not declare" in caplog.text


@override_settings(DEBUG=False)
def test_an_undeclared_event_is_sent_and_logged_once_in_production(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="echo.sse"):
        first = read_events("/ticks?stray=1", 3)
        read_events("/ticks?stray=0", 2)

    assert [(e.event, e.data) for e in first] == [("tick", "0"), ("stray", '"not declared"'), ("tick", "1")]
    warnings = [r.getMessage() for r in caplog.records if "does not declare" in r.getMessage()]
    assert warnings == [
        "stream 'tick' sent event 'stray', which its view does not declare "
        "(@declare on the view lists what it sends)"
    ]
    assert Stray.event_name == "stray"
