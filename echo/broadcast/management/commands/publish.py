from __future__ import annotations

import json as jsonlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from pydantic import ValidationError

from echo.broadcast.access import valid_channel
from echo.broadcast.event_types import event_types
from echo.broadcast.exceptions import RelayUnavailable
from echo.broadcast.publish import publish


class Command(BaseCommand):
    help = (
        "Publish a typed event to a broadcast channel. EVENT is the name of an event type registered "
        "with echo.broadcast.register_event_type (chat_message, echo, reverse_echo here), and JSON its "
        "payload, validated against the event's payload model."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("channel")
        parser.add_argument("event", help="event name, e.g. chat_message")
        parser.add_argument("json", help='payload as JSON, e.g. \'{"text": "hello"}\'')

    def handle(self, *args: Any, channel: str, event: str, json: str, **options: Any) -> None:
        if not valid_channel(channel):
            raise CommandError(f"Invalid channel name {channel!r}.")
        known = event_types()
        event_class = known.get(event)
        if event_class is None:
            raise CommandError(f"Unknown event type {event!r}. Known types: {', '.join(sorted(known))}.")
        try:
            payload = _json_loads(json)
        except ValueError as exc:
            raise CommandError(f"The payload is not valid JSON: {exc}") from exc
        try:
            typed = event_class.model_validate({"data": payload})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'][1:]) or 'payload'}: {error['msg']}"
                for error in exc.errors()
            )
            raise CommandError(f"The payload does not fit {event!r}: {problems}") from exc
        try:
            event_id = publish(channel, typed, strict=True)
        except RelayUnavailable as exc:
            raise CommandError(
                f"Stored {event} on {channel}, but other processes were not told: {exc}"
            ) from None
        self.stdout.write(f"Published {event} to {channel} with id {event_id}.")


def _json_loads(text: str) -> Any:
    return jsonlib.loads(text)
