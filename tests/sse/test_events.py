"""`BaseEvent`: event names from class names, payload JSON, and the step to a `ServerSentEvent`."""

from __future__ import annotations

import datetime

import pytest
from pydantic import BaseModel

from echo.sse import BaseEvent, FieldError, ServerSentEvent, event_name_for


class Payload(BaseModel):
    message: str
    count: int
    at: datetime.datetime | None = None


class Echo(BaseEvent[Payload]):
    pass


class ReverseEcho(BaseEvent[Payload]):
    pass


class HTTPError(BaseEvent[str]):
    pass


class Http2Push(BaseEvent[int]):
    pass


class Renamed(BaseEvent[str]):
    event_name = "custom.name"


class RenamedChild(Renamed):
    pass


class Numbers(BaseEvent[list[int]]):
    pass


class MaybeNumber(BaseEvent[int | None]):
    pass


class Mapping(BaseEvent[dict[str, float]]):
    pass


class Payloads(BaseEvent[list[Payload]]):
    pass


@pytest.mark.parametrize(
    ("class_name", "event_name"),
    [
        ("Echo", "echo"),
        ("ReverseEcho", "reverse_echo"),
        ("HTTPError", "http_error"),
        ("IOError", "io_error"),
        ("ABC", "abc"),
        ("ABCDef", "abc_def"),
        ("Echo2", "echo2"),
        ("Http2Push", "http2_push"),
        ("V2Event", "v2_event"),
        ("Step10Done", "step10_done"),
        ("already_snake", "already_snake"),
        ("getHTTPResponse", "get_http_response"),
    ],
)
def test_event_name_for_gives_snake_case(class_name: str, event_name: str) -> None:
    assert event_name_for(class_name) == event_name


def test_event_class_is_named_after_itself() -> None:
    assert Echo.event_name == "echo"
    assert ReverseEcho.event_name == "reverse_echo"
    assert HTTPError.event_name == "http_error"
    assert Http2Push.event_name == "http2_push"


def test_event_name_can_be_set_on_the_class() -> None:
    assert Renamed.event_name == "custom.name"
    assert Renamed.create("x").to_sse().event == "custom.name"


def test_subclass_of_a_renamed_event_gets_its_own_name() -> None:
    assert RenamedChild.event_name == "renamed_child"
    assert Renamed.event_name == "custom.name"


def test_event_name_with_a_line_break_is_refused_when_the_class_is_made() -> None:
    for name in ("bad\nname", "bad\rname", "bad\r\n"):
        with pytest.raises(FieldError):
            type("Bad", (BaseEvent[str],), {"__module__": __name__, "event_name": name})


def test_class_name_with_a_line_break_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(FieldError):
        type("Bad\nName", (BaseEvent[str],), {"__module__": __name__})


def test_create_wraps_the_payload() -> None:
    payload = Payload(message="hi", count=1)
    event = Echo.create(payload)
    assert event == Echo(data=payload)
    assert event.data is payload


def test_create_validates_the_payload() -> None:
    with pytest.raises(ValueError, match="valid integer"):
        Http2Push.create("not a number")  # type: ignore[arg-type]


def test_data_json_of_a_model_is_its_model_dump_json() -> None:
    payload = Payload(message="héllo\nworld", count=3, at=datetime.datetime(2024, 1, 2, 3, 4, 5))
    assert Echo.create(payload).data_json() == payload.model_dump_json()


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (HTTPError.create('héllo "q"\n'), '"héllo \\"q\\"\\n"'),
        (Http2Push.create(0), "0"),
        (Numbers.create([1, 2, 3]), "[1,2,3]"),
        (Numbers.create([]), "[]"),
        (MaybeNumber.create(None), "null"),
        (Mapping.create({"a": 1.5}), '{"a":1.5}'),
        (
            Payloads.create([Payload(message="a", count=1), Payload(message="b", count=2)]),
            '[{"message":"a","count":1,"at":null},{"message":"b","count":2,"at":null}]',
        ),
    ],
)
def test_data_json_of_other_payloads_is_compact_json(event: BaseEvent[object], expected: str) -> None:
    assert event.data_json() == expected


def test_to_sse_carries_name_json_and_id() -> None:
    payload = Payload(message="hi", count=2)
    sse = Echo.create(payload).to_sse(id=7)
    assert sse == ServerSentEvent(data=payload.model_dump_json(), event="echo", id=7)
    assert sse.encode() == b'id: 7\nevent: echo\ndata: {"message":"hi","count":2,"at":null}\n\n'


def test_to_sse_without_id_writes_no_id() -> None:
    sse = HTTPError.create("x").to_sse()
    assert sse.id is None
    assert sse.encode() == b'event: http_error\ndata: "x"\n\n'


def test_to_sse_refuses_an_id_the_wire_cannot_carry() -> None:
    with pytest.raises(FieldError):
        HTTPError.create("x").to_sse(id="1\n2")


def test_events_are_immutable() -> None:
    event = HTTPError.create("x")
    with pytest.raises(ValueError, match="frozen"):
        event.data = "y"  # type: ignore[misc]
