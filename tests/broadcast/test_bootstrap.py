"""`echo.broadcast.bootstrap` and `{% channel_stream_url %}`: a channel's URL with its position,
for who may read it. In-process: real storage, the subscription read through echo's ASGI handler."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.template import Context, Template
from django.test import RequestFactory

from echo.broadcast.bootstrap import achannel_stream_url, channel_positions, channel_stream_url, stream_url
from echo.broadcast.publish import apublish, publish
from echo.demo.messages import ChatMessage, MessagePayload
from echo.sse import ServerSentEvent
from echo.sse.testing import open_stream

from ..loops import run

TAG = '{% load echo_broadcast %}{% channel_stream_url "boot-tag" as url %}<a href="{{ url }}">'


def chat(text: str) -> ChatMessage:
    return ChatMessage.create(MessagePayload(text=text))


def request_of(user: Any = None) -> HttpRequest:
    request = RequestFactory().get("/page/")
    request.user = user if user is not None else AnonymousUser()
    return request


@pytest.mark.django_db
def test_the_url_carries_the_channel_s_current_id() -> None:
    publish("boot-a", chat("one"))
    last = publish("boot-a", chat("two"))

    assert channel_stream_url(request_of(), "boot-a") == f"/events/boot-a/?lastEventId={last}"


@pytest.mark.django_db
def test_a_channel_with_no_event_yet_starts_at_zero() -> None:
    assert channel_stream_url(request_of(), "boot-empty") == "/events/boot-empty/?lastEventId=0"


@pytest.mark.django_db
def test_several_channels_get_one_position_each_as_the_stream_writes_them() -> None:
    publish("boot-b", chat("b"))
    url = channel_stream_url(request_of(), "boot-b", "boot-c", "boot-b")

    parts = urlsplit(url)
    assert parts.path == "/events/boot-b,boot-c/"
    assert parse_qs(parts.query) == {"lastEventId": ["boot-b:1,boot-c:0"]}


@pytest.mark.django_db
def test_a_private_channel_s_position_is_given_only_to_who_may_read_it() -> None:
    owner = User.objects.create_user("boot-owner", password="pw-boot-1")
    channel = f"user-{owner.pk}"
    publish(channel, chat("private"))

    assert channel_stream_url(request_of(), channel) == f"/events/{channel}/"
    other = User.objects.create_user("boot-other", password="pw-boot-2")
    assert channel_stream_url(request_of(other), channel) == f"/events/{channel}/"
    # One channel not readable: no position for any, so none of them leaks.
    assert channel_stream_url(request_of(other), "boot-d", channel) == f"/events/boot-d,{channel}/"
    assert channel_stream_url(request_of(owner), channel) == f"/events/{channel}/?lastEventId=1"


@pytest.mark.django_db
def test_no_position_when_the_site_stores_no_events(settings: Any) -> None:
    settings.EVENTSTREAM_STORAGE_CLASS = None
    settings.SILENCED_SYSTEM_CHECKS = ["echo.W005"]

    assert channel_positions(["boot-e"]) == {"boot-e": None}
    assert channel_stream_url(request_of(), "boot-e") == "/events/boot-e/"


@pytest.mark.parametrize("channels", [(), ("bad name",), ("a:b",), tuple(f"c{n}" for n in range(100))])
def test_a_bad_or_missing_channel_name_is_refused(channels: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="channel"):
        stream_url(channels)


@pytest.mark.django_db(transaction=True)
def test_the_async_twin_gives_the_same_url() -> None:
    last = publish("boot-f", chat("f"))

    assert run(achannel_stream_url(request_of(), "boot-f")) == f"/events/boot-f/?lastEventId={last}"


@pytest.mark.django_db
def test_the_template_tag_renders_the_url_with_the_position() -> None:
    last = publish("boot-tag", chat("tag"))

    html = Template(TAG).render(Context({"request": request_of()}))
    assert html == f'<a href="/events/boot-tag/?lastEventId={last}">'


def test_the_template_tag_needs_the_request_to_check_read_access() -> None:
    with pytest.raises(ImproperlyConfigured, match="needs the request"):
        Template(TAG).render(Context({}))


@pytest.mark.django_db(transaction=True)
def test_an_event_published_after_the_render_reaches_the_first_connection_once() -> None:
    publish("boot-g", chat("rendered with the page"))
    url = channel_stream_url(request_of(), "boot-g")
    between = publish("boot-g", chat("published between render and connect"))
    assert between is not None
    path, _, query = url.partition("?")

    async def read() -> list[ServerSentEvent]:
        async with open_stream(path, query=dict(parse_qsl(query))) as stream:
            events = await stream.read(2)
            # Then one more, published live: what comes next is it, not `between` again.
            await apublish("boot-g", chat("published live"))
            return [*events, *await stream.read(1)]

    events = run(read())
    texts = [ChatMessage.from_data(e.data or "").data.text for e in events if e.event == "chat_message"]
    assert texts == ["published between render and connect", "published live"]
    assert [e.id for e in events] == ["boot-g:1", f"boot-g:{between}", f"boot-g:{between + 1}"]
