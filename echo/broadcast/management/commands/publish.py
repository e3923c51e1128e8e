"""`manage.py publish CHANNEL EVENT JSON`: one typed event, stored and delivered.

Exit status: 0 when the event is stored (it has an id and will be replayed), even if Redis could
not be told (a warning on standard error: the other processes find it by their storage poll, and
publishing it again would store it twice); 1 when nothing was stored (bad input, or storage is
off); 2 for a usage error.
"""

from __future__ import annotations

import json as jsonlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from pydantic import ValidationError

from echo.broadcast.access import valid_channel
from echo.broadcast.channels import declared_channels, find_channel, payload_problems
from echo.broadcast.exceptions import RelayUnavailable
from echo.broadcast.publish import publish


class Command(BaseCommand):
    help = (
        "Publish a typed event to a broadcast channel. EVENT is the name of an event type the channel "
        "declares (echo.broadcast.channels.declare_channel), and JSON its payload, validated against "
        "the event's payload model. Exits 0 once the event is stored, 1 when nothing was stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        known = "; ".join(
            f"{spec.pattern}: {', '.join(cls.event_name for cls in spec.events)}"
            for spec in declared_channels()
        )
        parser.add_argument("channel", help=f"channel name (declared here: {known or 'none'})")
        parser.add_argument("event", help="event name, one the channel declares")
        parser.add_argument("json", help='payload as JSON, e.g. \'{"text": "hello"}\'')

    def handle(self, *args: Any, channel: str, event: str, json: str, **options: Any) -> None:
        if not valid_channel(channel):
            raise CommandError(f"Invalid channel name {channel!r}.")
        spec = find_channel(channel)
        if spec is None:
            raise CommandError(
                f"Channel {channel!r} is not declared. Declared: "
                f"{', '.join(spec.pattern for spec in declared_channels()) or 'none'}."
            )
        event_class = spec.event_type(event)
        if event_class is None:
            known = ", ".join(cls.event_name for cls in spec.events)
            raise CommandError(f"Unknown event type {event!r} for {channel!r}. Its types: {known}.")
        try:
            payload = jsonlib.loads(json)
        except ValueError as exc:
            raise CommandError(f"The payload is not valid JSON: {exc}") from exc
        try:
            typed = event_class.model_validate({"data": payload})
        except ValidationError as exc:
            problems = "; ".join(
                f"{field or 'payload'}: {message}" for field, message in payload_problems(exc)
            )
            raise CommandError(f"The payload does not fit {event!r}: {problems}") from exc
        try:
            event_id = publish(channel, typed, strict=True)
        except RelayUnavailable as exc:
            # Stored: publishing again would store it twice. The others find it by their poll.
            self.stderr.write(
                f"Warning: other processes were not told at once ({exc}); they find it in storage."
            )
            event_id = exc.event_id
        if event_id is None:
            raise CommandError(
                f"Sent {event} to {channel} without storing it: storage is off (EVENTSTREAM_STORAGE_CLASS), "
                "so it has no id and will not be replayed."
            )
        self.stdout.write(f"Published {event} to {channel} with id {event_id}.")
