"""`manage.py publish CHANNEL EVENT JSON`: a typed event from the command line."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from pydantic import BaseModel

from echo.broadcast import channels as channels_module
from echo.broadcast.channels import declare_channel
from echo.broadcast.storage import get_storage
from echo.sse import BaseEvent

pytestmark = pytest.mark.django_db


def publish(*args: str) -> str:
    out = io.StringIO()
    call_command("publish", *args, stdout=out)
    return out.getvalue()


def test_publish_stores_the_event_and_prints_its_id() -> None:
    assert publish("demo", "chat_message", '{"text": "hi"}') == "Published chat_message to demo with id 1.\n"
    assert publish("demo", "chat_message", '{"text": "again"}').endswith("with id 2.\n")

    stored = get_storage().get_events("demo", 0)
    assert [(event.id, event.type) for event in stored] == [(1, "chat_message"), (2, "chat_message")]
    assert [json.loads(event.data)["text"] for event in stored] == ["hi", "again"]


def test_publish_fills_the_payload_defaults_and_keeps_given_fields() -> None:
    publish("demo", "chat_message", '{"text": "hi", "sent_at": "2024-05-01T12:30:00"}')
    publish("mixed", "echo", '{"message": "hello"}')  # the test servers' channels carry echo too

    (chat,) = get_storage().get_events("demo", 0)
    (echo,) = get_storage().get_events("mixed", 0)
    assert json.loads(chat.data) == {"text": "hi", "sent_at": "2024-05-01T12:30:00"}
    assert echo.type == "echo"
    assert set(json.loads(echo.data)) == {"message", "created_at"}  # created_at defaulted to now


class Level(BaseModel):
    name: str
    value: int


class LevelChanged(BaseEvent[Level]):
    pass


def test_publish_knows_a_channel_another_app_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels_module, "_exact", dict(channels_module._exact))
    declare_channel("levels", LevelChanged)

    assert publish("levels", "level_changed", '{"name": "water", "value": 3}').endswith("with id 1.\n")
    (stored,) = get_storage().get_events("levels", 0)
    assert (stored.type, json.loads(stored.data)) == ("level_changed", {"name": "water", "value": 3})
    with pytest.raises(CommandError, match="value: Input should be a valid integer"):
        publish("levels", "level_changed", '{"name": "water", "value": "high"}')


def test_publish_refuses_an_unknown_event_type_and_lists_the_channels_types() -> None:
    with pytest.raises(CommandError, match=r"Unknown event type 'chat' for 'any'\. Its types: ") as error:
        publish("any", "chat", '{"text": "hi"}')

    known = str(error.value).partition("Its types: ")[2].rstrip(".").split(", ")
    assert known == ["chat_message", "echo", "reverse_echo"]
    assert get_storage().get_current_id("any") == 0


@pytest.mark.parametrize("payload", ['{"text": "hi"', "text=hi", "", "{'text': 'hi'}"])
def test_publish_refuses_a_payload_that_is_not_json(payload: str) -> None:
    with pytest.raises(CommandError, match="The payload is not valid JSON: "):
        publish("demo", "chat_message", payload)

    assert get_storage().get_current_id("demo") == 0


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ('{"text": ""}', "text: String should have at least 1 character"),
        ("{}", "text: Field required"),
        ('{"text": "hi", "sent_at": "yesterday"}', "sent_at: Input should be a valid datetime"),
        ('"hi"', "payload: Input should be a valid dictionary or instance of MessagePayload"),
        ("[]", "payload: Input should be a valid dictionary"),
    ],
)
def test_publish_refuses_a_payload_the_event_model_rejects_and_says_why(payload: str, problem: str) -> None:
    with pytest.raises(CommandError) as error:
        publish("demo", "chat_message", payload)

    message = str(error.value)
    assert message.startswith("The payload does not fit 'chat_message': ")
    assert problem in message
    assert get_storage().get_current_id("demo") == 0


@pytest.mark.parametrize("channel", ["demo:1", "a,b", "two words", "", "x" * 101])
def test_publish_refuses_a_bad_channel_name(channel: str) -> None:
    with pytest.raises(CommandError, match=r"Invalid channel name"):
        publish(channel, "chat_message", '{"text": "hi"}')

    assert get_storage().get_current_id(channel) == 0
