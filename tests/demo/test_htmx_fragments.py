"""`echo.sse.Fragment`: a typed context in, HTML out, escaped as Django escapes, sent whole.

In-process: the template is rendered by the project's own engine, the stream read through echo's
ASGI handler (`echo.sse.testing.open_stream`), a broadcast event published and stored for real.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils.safestring import mark_safe
from pydantic import BaseModel, ValidationError

from echo.broadcast import channels as channels_module
from echo.broadcast.channels import declare_channel
from echo.broadcast.publish import publish
from echo.broadcast.rules import anyone
from echo.demo.fragments import EchoCard, EchoCardContext
from echo.sse import Fragment
from echo.sse.testing import read_events
from echo.sse.wire.decode import EventDecoder

CHANNEL = "htmx-cards"


def card(message: str, n: int = 0) -> EchoCard:
    return EchoCard.render(EchoCardContext(n=n, message=message))


def test_a_fragment_is_named_after_its_class_and_renders_its_template() -> None:
    event = card("hi", n=3)

    assert EchoCard.event_name == "echo_card"
    assert event.data.startswith('<article class="echo-card" data-n="3">\n  <h3>echo #3</h3>\n')
    assert '<p class="message">hi</p>' in event.data
    assert '<p class="reversed">ih</p>' in event.data  # a computed field reaches the template


def test_a_fragment_escapes_its_context_as_django_does() -> None:
    event = card("<img src=x onerror=alert(1)> & \"quoted\" 'single'")

    escaped = "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quoted&quot; &#x27;single&#x27;"
    assert f'<p class="message">{escaped}</p>' in event.data
    assert "<img" not in event.data


def test_a_multi_line_fragment_is_one_data_line_per_line_and_decodes_whole() -> None:
    event = card("two\nlines")
    wire = event.to_sse(id=7).encode()

    lines = wire.decode().split("\n")
    data_lines = [line for line in lines if line.startswith("data:")]
    assert len(data_lines) == event.data.count("\n") + 1
    (decoded,) = EventDecoder().feed(wire)
    assert (decoded.event, decoded.id, decoded.data) == ("echo_card", "7", event.data)
    assert EchoCard.from_data(decoded.data or "") == event


def test_a_fragment_validates_a_dict_as_its_context_and_renders_it() -> None:
    event = EchoCard.model_validate({"data": {"n": "4", "message": "from a form"}})

    assert "<h3>echo #4</h3>" in event.data
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        EchoCard.model_validate({"data": {"n": -1, "message": "x"}})


def test_a_fragment_refuses_plain_text_as_html_and_takes_what_django_marked_safe() -> None:
    with pytest.raises(ValidationError, match="rendered HTML: give its context \\(EchoCardContext\\)"):
        EchoCard(data="<script>alert(1)</script>")
    trusted = EchoCard(data=mark_safe("<em>trusted</em>"))
    assert trusted.to_sse().data == "<em>trusted</em>"


def test_a_concrete_fragment_must_name_its_template() -> None:
    class Context(BaseModel):
        value: int

    with pytest.raises(TypeError, match="a fragment names its template_name"):

        class NoTemplate(Fragment[Context]):
            pass


@pytest.mark.django_db(transaction=True)
def test_the_htmx_stream_sends_escaped_multi_line_cards() -> None:
    events = read_events("/htmx/sse", 2, query={"message": "<b>x</b>", "interval": "0"})

    assert [(event.event, event.id) for event in events] == [("echo_card", "0"), ("echo_card", "1")]
    first = events[0].data or ""
    assert first.count("\n") >= 4  # several lines, joined again by the reader
    assert '<p class="message">&lt;b&gt;x&lt;/b&gt;</p>' in first
    assert first.endswith("</article>\n")


@pytest.fixture
def card_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    """`htmx-cards`, carrying `EchoCard`, declared for this test only."""
    monkeypatch.setattr(channels_module, "_exact", dict(channels_module._exact))
    declare_channel(CHANNEL, EchoCard, description="Echo cards, for a test.", read=anyone, publish=anyone)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("card_channel")
def test_a_channel_that_declares_a_fragment_stores_and_replays_its_html() -> None:
    event = card("<i>published</i>", n=9)

    event_id = publish(CHANNEL, event)
    assert event_id is not None
    events = read_events(f"/events/{CHANNEL}/", 2, query={"lastEventId": str(event_id - 1)})

    assert [e.event for e in events] == ["stream-open", "echo_card"]
    assert events[1].data == event.data
    assert events[1].id == f"{CHANNEL}:{event_id}"
    assert "&lt;i&gt;published&lt;/i&gt;" in (events[1].data or "")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("card_channel")
def test_publishing_a_fragment_over_http_takes_its_context_never_markup() -> None:
    client = Client(HTTP_HOST="127.0.0.1")
    url = f"/events/{CHANNEL}/publish"

    def post(body: dict[str, Any]) -> Any:
        return client.post(url, json.dumps(body), content_type="application/json")

    refused = post({"event": "echo_card", "data": "<script>alert(1)</script>"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_parameter"
    taken = post({"event": "echo_card", "data": {"n": 1, "message": "<script>"}})
    assert taken.status_code == 200, taken.content
    events = read_events(f"/events/{CHANNEL}/", 2, query={"lastEventId": str(taken.json()["id"] - 1)})
    assert '<p class="message">&lt;script&gt;</p>' in (events[1].data or "")
