"""Declared channels: what each channel carries, and what is refused before anything is stored."""

from __future__ import annotations

import io
import json
from typing import Any, ClassVar

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django_eventstream.models import Event as StoredEvent

from echo.broadcast import channels as channels_module
from echo.broadcast.access import ChannelManager
from echo.broadcast.channels import ChannelSpec, declare_channel, declared_channels, find_channel
from echo.broadcast.checks import check_channel_rules
from echo.broadcast.exceptions import BroadcastError, UndeclaredChannel, UndeclaredEvent
from echo.broadcast.publish import publish
from echo.broadcast.rules import anyone, authenticated, owner
from echo.broadcast.views import subscription_name
from echo.demo.messages import ChatMessage, MessagePayload
from echo.demo.streams import Echo
from echo.sse import BaseEvent


class ServerNotice(BaseEvent[str]):
    pass


class Impostor(BaseEvent[int]):
    event_name: ClassVar[str] = "chat_message"


@pytest.fixture
def only_the_demos(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's declarations and a per-user pattern as a site declares it, without the test
    servers' catch-all `{channel}`."""
    monkeypatch.setattr(channels_module, "_exact", dict(channels_module._exact))
    monkeypatch.setattr(channels_module, "_patterns", {})
    declare_channel("user-{id}", ChatMessage)


@pytest.mark.usefixtures("only_the_demos")
def test_exact_names_match_first_then_patterns() -> None:
    demo = find_channel("demo")
    assert demo is not None
    assert (demo.pattern, demo.events, demo.params) == ("demo", (ChatMessage,), ())
    user = find_channel("user-42")
    assert user is not None
    assert (user.pattern, user.params, user.match("user-42")) == ("user-{id}", ("id",), {"id": "42"})
    assert find_channel("anything") is None
    declare_channel("{name}", ServerNotice)  # a catch-all comes after the exact names and earlier patterns
    assert find_channel("demo").pattern == "demo"  # type: ignore[union-attr]
    assert find_channel("user-1").pattern == "user-{id}"  # type: ignore[union-attr]
    assert find_channel("anything").pattern == "{name}"  # type: ignore[union-attr]
    assert [spec.pattern for spec in declared_channels()][:1] == ["demo"]


def test_a_subscription_may_also_receive_the_control_events() -> None:
    assert find_channel("demo").names == {"chat_message", "stream-open", "stream-reset", "stream-error"}  # type: ignore[union-attr]


@pytest.mark.usefixtures("only_the_demos")
def test_declaring_again_adds_event_types_and_keeps_the_rules() -> None:
    spec = declare_channel("alerts-{region}-{level}", ServerNotice, read=anyone)
    assert declare_channel("alerts-{region}-{level}", ServerNotice) == spec
    assert spec.match("alerts-eu.west-3") == {"region": "eu.west", "level": "3"}
    assert spec.match("alerts-eu") is None
    # A second app adds its own type to the same pattern; the first app's rule stays.
    merged = declare_channel("alerts-{region}-{level}", ChatMessage, description="Two apps' alerts.")
    assert (merged.events, merged.read) == ((ServerNotice, ChatMessage), anyone)
    assert find_channel("alerts-eu-3") == merged
    assert declare_channel("alerts-{region}-{level}", ChatMessage, read=anyone) == merged
    with pytest.raises(ValueError, match="declared with two read rules: anyone, signed-in users"):
        declare_channel("alerts-{region}-{level}", ChatMessage, read=authenticated)
    with pytest.raises(TypeError, match="two event types are named 'chat_message'"):
        declare_channel("alerts-{region}-{level}", Impostor)


def member(pk: int, *, perms: frozenset[str] = frozenset()) -> Any:
    user = User(pk=pk, username=f"user{pk}")
    user._perm_cache = set(perms)  # what ModelBackend.has_perm reads, so no database is asked
    return user


@pytest.mark.usefixtures("only_the_demos")
def test_a_pattern_is_read_as_its_declaration_says_and_by_no_one_without_a_rule() -> None:
    declare_channel("orders-{id}", ServerNotice)  # the attack: private only by its name
    declare_channel("inbox-{id}", ServerNotice, read="id")
    declare_channel("team-{team}-{id}", ServerNotice, read=owner("id"), publish=owner("id"))
    declare_channel("lobby-{room}", ServerNotice, read=authenticated)
    manager = ChannelManager()

    assert not manager.can_read_channel(None, "orders-2")
    assert not manager.can_read_channel(member(2), "orders-2")
    assert [manager.can_read_channel(reader, "inbox-2") for reader in (None, member(3), member(2))] == [
        False,
        False,
        True,
    ]
    assert manager.can_read_channel(member(5), "team-red-5")
    assert not manager.can_read_channel(member(5), "team-5-red")
    assert (manager.can_read_channel(None, "lobby-a"), manager.can_read_channel(member(1), "lobby-a")) == (
        False,
        True,
    )
    assert manager.can_read_channel(None, "demo")  # an exact name is public by default
    assert not manager.can_read_channel(member(1), "nothing-declared")
    # Publishing over HTTP: the rule, else the publish permission.
    assert manager.can_publish_channel(member(5), "team-red-5")
    assert not manager.can_publish_channel(member(6), "team-red-5")
    assert not manager.can_publish_channel(member(2), "inbox-2")
    assert manager.can_publish_channel(member(2, perms=frozenset({"echo_broadcast.publish"})), "inbox-2")
    assert manager.can_publish_channel(None, "demo")  # the demo's chat: publish=anyone


def test_an_owner_rule_names_a_parameter_of_the_pattern() -> None:
    with pytest.raises(ValueError, match=r"no parameter \{id\} to own"):
        ChannelSpec("news", (ChatMessage,), read=owner("id"))
    with pytest.raises(TypeError, match="a rule is a callable"):
        ChannelSpec("x-{id}", (ChatMessage,), read=3)  # type: ignore[arg-type]


@pytest.mark.usefixtures("only_the_demos")
def test_a_pattern_without_a_read_rule_is_named_by_a_check() -> None:
    declare_channel("orders-{id}", ServerNotice)
    declare_channel("inbox-{id}", ServerNotice, read="id")

    errors = check_channel_rules(None)

    assert [(error.id, error.msg) for error in errors] == [
        ("echo.E009", "The channel pattern 'user-{id}' does not say who may read it, so no one may."),
        ("echo.E009", "The channel pattern 'orders-{id}' does not say who may read it, so no one may."),
    ]
    assert "read='id'" in errors[1].hint


@pytest.mark.parametrize("pattern", ["", "a:b", "a,{x}", "{x}{x}", "-lead", "{Bad}", "x" * 101])
def test_a_pattern_must_be_a_channel_name_with_parameters(pattern: str) -> None:
    with pytest.raises(ValueError, match="not a channel name or pattern"):
        ChannelSpec(pattern, (ChatMessage,))


def test_a_channel_declares_event_types_with_distinct_names() -> None:
    with pytest.raises(TypeError, match="declares no event type"):
        ChannelSpec("x", ())
    with pytest.raises(TypeError, match="two event types are named 'chat_message'"):
        ChannelSpec("x", (ChatMessage, Impostor))
    with pytest.raises(TypeError, match="BaseEvent subclass"):
        ChannelSpec("x", (MessagePayload,))  # type: ignore[arg-type]


@pytest.mark.django_db
@pytest.mark.usefixtures("only_the_demos")
def test_publish_refuses_an_undeclared_channel_or_event_type_and_stores_nothing() -> None:
    message = ChatMessage.create(MessagePayload(text="hi"))
    with pytest.raises(UndeclaredChannel, match=r"channel 'news' is not declared: declare it with"):
        publish("news", message)
    with pytest.raises(
        UndeclaredEvent, match=r"channel 'demo' \('demo'\) carries ChatMessage, not ServerNotice"
    ):
        publish("demo", ServerNotice.create("hello"))
    with pytest.raises(UndeclaredEvent, match="carries ChatMessage, not Echo"):
        publish("user-7", Echo.create({"message": "x"}))  # type: ignore[arg-type]
    assert issubclass(UndeclaredChannel, LookupError)
    assert issubclass(UndeclaredEvent, TypeError)
    assert issubclass(UndeclaredChannel, BroadcastError)
    assert not StoredEvent.objects.exists()

    assert publish("user-7", message) == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("only_the_demos")
def test_subscribing_to_an_undeclared_channel_is_a_json_404() -> None:
    response = Client().get("/events/demo,news,other/")

    assert response.status_code == 404
    assert response.json() == {
        "error": "unknown_channel",
        "detail": "No such channel: news, other",
        "channels": ["news", "other"],
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("only_the_demos")
def test_manage_publish_names_the_declared_channels_and_their_types() -> None:
    with pytest.raises(CommandError, match=r"Channel 'news' is not declared\. Declared: demo, user-\{id\}\."):
        call_command("publish", "news", "chat_message", "{}")
    with pytest.raises(
        CommandError, match=r"Unknown event type 'echo' for 'demo'\. Its types: chat_message\."
    ):
        call_command("publish", "demo", "echo", '{"message": "x"}')
    out = io.StringIO()
    call_command("publish", "user-3", "chat_message", json.dumps({"text": "hi"}), stdout=out)
    assert out.getvalue() == "Published chat_message to user-3 with id 1.\n"


@pytest.mark.usefixtures("only_the_demos")
def test_a_subscription_is_named_after_its_declarations_never_a_concrete_channel() -> None:
    for pattern in ("room-{n}", "a-{x}", "b-{x}", "c-{x}"):
        declare_channel(pattern, ServerNotice, read=anyone)
    specs = [find_channel(name) for name in ("user-4", "room-7", "demo", "room-8")]

    assert subscription_name([spec for spec in specs if spec]) == "events:demo,room-{n},user-{id}"
    many = [find_channel(name) for name in ("room-1", "a-1", "b-1", "c-1", "user-2")]
    assert subscription_name([spec for spec in many if spec]) == "events:a-{x},b-{x},c-{x}+2"


def test_publish_without_the_broadcast_app_installed_says_so_instead_of_succeeding() -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.test import modify_settings

    with (
        modify_settings(INSTALLED_APPS={"remove": ["echo.broadcast"]}),
        pytest.raises(ImproperlyConfigured, match=r"add 'echo\.broadcast'"),
    ):
        publish("demo", ChatMessage.create(MessagePayload(text="hi")))
