"""`GET /events/<channel>[,<channel>...]/`: a broadcast subscription as an event stream, and
`POST /events/<channel>/publish`: one typed event, published over HTTP."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from echo.sse import BaseEvent, EventStreamResponse, LastEventIdError
from echo.sse.glue.asgi import stream_view
from echo.sse.glue.http import invalid_last_event_id, json_error, last_event_id, method_not_allowed
from echo.sse.glue.middleware import RETRY_AFTER

from .access import PublishAccess, channel_manager, valid_channel
from .channels import ChannelSpec, find_channel, payload_problems, subscription_contract
from .conf import app_settings
from .eventstream import grip_response
from .publish import apublish
from .ratelimit import limited
from .subscribe import channel_events, parse_last_event_id

__all__ = ["events", "forbidden_channels", "may_publish", "publish_event", "subscription_name"]

_ALLOWED = ("GET", "HEAD")


def _channel_names(raw: str) -> list[str] | JsonResponse:
    limit = app_settings.MAX_CHANNELS
    if raw.count(",") >= limit:
        return json_error(
            400, "too_many_channels", f"A subscription names at most {limit} channels.", limit=limit
        )
    names = list(dict.fromkeys(raw.split(",")))
    bad = [name for name in names if not valid_channel(name)]
    if bad:
        return json_error(
            400,
            "invalid_channel",
            "Channel names are 1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit.",
            channels=bad,
        )
    return names


async def forbidden_channels(request: HttpRequest, names: list[str]) -> list[str]:
    user = await request.auser()
    manager = channel_manager()
    reader = user if user.is_authenticated else None
    return [name for name in names if not manager.can_read_channel(reader, name)]


async def may_publish(request: HttpRequest, channel: str) -> bool:
    """The channel manager's `can_publish_channel` for this request's user (False without one)."""
    user = await request.auser()
    manager = channel_manager()
    if not isinstance(manager, PublishAccess):  # django-eventstream's own manager: nobody publishes
        return False
    publisher = user if user.is_authenticated else None
    # In a thread: a permission check reads the database (`user.has_perm`).
    return bool(await sync_to_async(manager.can_publish_channel)(publisher, channel))


@stream_view
@csrf_exempt
async def events(request: HttpRequest, channels: str) -> HttpResponseBase:
    """`GET /events/<channel>[,<channel>...]/`: live broadcast events, resumable by Last-Event-ID."""
    if request.method not in _ALLOWED:
        return method_not_allowed(request, _ALLOWED)
    names = _channel_names(channels)
    if isinstance(names, JsonResponse):
        return names
    undeclared = [name for name in names if find_channel(name) is None]
    if undeclared:
        return json_error(
            404, "unknown_channel", f"No such channel: {', '.join(undeclared)}", channels=undeclared
        )
    denied = await forbidden_channels(request, names)
    if denied:
        return json_error(
            403, "forbidden", f"Permission denied to channels: {', '.join(denied)}", channels=denied
        )
    try:
        last_ids = parse_last_event_id(last_event_id(request), names)
    except LastEventIdError as exc:
        return invalid_last_event_id(exc)
    grip = getattr(request, "grip", None)
    if grip is not None and grip.proxied:
        return await sync_to_async(_grip_response)(request, names)
    specs = [spec for spec in map(find_channel, names) if spec is not None]
    response = EventStreamResponse(channel_events(names, last_ids), name=subscription_name(specs))
    response.declare(subscription_contract(specs))
    return response


def subscription_name(specs: list[ChannelSpec]) -> str:
    """`events:news,user-{id}`: a subscription is named after its channels' declarations, never a
    concrete channel, so the name a client chooses (the metrics' `stream` label, the admin's
    "By stream" filter) is one of few, and holds no user's id. The path keeps the channels."""
    patterns = sorted({spec.pattern for spec in specs})
    shown = ",".join(patterns[:_NAMED])
    return f"events:{shown}" if len(patterns) <= _NAMED else f"events:{shown}+{len(patterns) - _NAMED}"


_NAMED = 3  # declarations named in a subscription's name; the rest counted


def _grip_response(request: HttpRequest, names: list[str]) -> HttpResponseBase:
    # Behind Pushpin: django-eventstream answers with the events to replay and the GRIP
    # instructions that tell Pushpin to hold the connection open on these channels.
    response = grip_response(request, names)
    response["Cache-Control"] = "no-cache"
    return response


async def publish_event(request: HttpRequest, channel: str) -> HttpResponseBase:
    """`POST /events/<channel>/publish`: one typed event, for a user the channel's `publish` rule allows.

    The body is JSON, `{"event": "price_tick", "data": {...}}`, or a form whose fields are the
    payload's (and `event`); without `event`, the channel's first declared type. Answers
    `{"channel", "id", "event"}`, or a JSON 4xx: nothing is stored for a refused request.
    """
    if request.method != "POST":
        return method_not_allowed(request, ("POST",))
    if not valid_channel(channel):
        return json_error(400, "invalid_channel", f"Invalid channel name: {channel!r}.")
    spec = find_channel(channel)
    if spec is None:
        return json_error(404, "unknown_channel", f"No such channel: {channel}", channels=[channel])
    # Who may not read a channel may not write to it either, whatever its publish rule.
    if await forbidden_channels(request, [channel]):
        return json_error(403, "forbidden", f"Permission denied to channel: {channel}")
    if not await may_publish(request, channel):
        return json_error(403, "forbidden", f"You may not publish to channel: {channel}")
    refused = limited(request)  # after the permission: a refused request costs no token
    if refused is not None:
        return refused
    event = _typed_event(request, spec, channel)
    if isinstance(event, JsonResponse):
        return event
    try:
        event_id = await apublish(channel, event)
    except DatabaseError:
        # The database is away (a restart, a failover, a lock held past the busy timeout): say so,
        # as JSON the client can retry on, rather than a 500 page.
        unavailable = json_error(
            503,
            "storage_unavailable",
            "The event could not be stored: the database did not answer. Retry later.",
        )
        unavailable["Retry-After"] = str(RETRY_AFTER)
        return unavailable
    return JsonResponse({"channel": channel, "id": event_id, "event": event.event_name})


def _typed_event(request: HttpRequest, spec: ChannelSpec, channel: str) -> BaseEvent[Any] | JsonResponse:
    """The request body as one of the channel's declared event types, or the 400 or 413 refusing it."""
    body = _publish_body(request)
    if isinstance(body, JsonResponse):
        return body
    name, data = body
    event_class = spec.event_type(name or spec.events[0].event_name)
    if event_class is None:
        carried = [cls.event_name for cls in spec.events]
        return json_error(
            400,
            "unknown_event",
            f"Channel {channel} carries {', '.join(carried)}: name one as 'event'.",
            events=carried,
        )
    try:
        return event_class.model_validate({"data": data})
    except ValidationError as exc:
        problems = [{"field": field, "message": message} for field, message in payload_problems(exc)]
        first = problems[0]
        return json_error(
            400, "invalid_parameter", first["message"], parameter=first["field"] or "data", problems=problems
        )


def _publish_body(request: HttpRequest) -> tuple[str | None, Any] | JsonResponse:
    """(event name or None, payload) from a JSON or form body, or the 4xx that refuses it."""
    limit = app_settings.PUBLISH_MAX_BYTES
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > limit:
        return json_error(
            413, "too_large", f"A published event's body is at most {limit} bytes.", limit=limit
        )
    try:
        if request.content_type == "application/json":
            parsed = json.loads(request.body or b"null")
            if not isinstance(parsed, dict) or "data" not in parsed:
                return json_error(400, "invalid_body", 'The JSON body is {"event": name, "data": payload}.')
            name = parsed.get("event")
            if name is not None and not isinstance(name, str):
                return json_error(400, "invalid_body", "'event' is an event name.")
            return name, parsed["data"]
        fields = {key: request.POST.get(key) for key in request.POST if key not in _NOT_PAYLOAD}
        return request.POST.get("event"), fields
    except ValueError:
        return json_error(400, "invalid_body", "The body is not valid JSON.")
    except (RequestDataTooBig, TooManyFieldsSent):
        return json_error(
            413, "too_large", f"A published event's body is at most {limit} bytes.", limit=limit
        )


# Form fields that are not the event's payload.
_NOT_PAYLOAD = frozenset({"event", "csrfmiddlewaretoken"})
