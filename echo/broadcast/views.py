"""`GET /events/<channel>[,<channel>...]/`: a broadcast subscription as an event stream."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from echo.sse import EventStreamResponse, LastEventIdError
from echo.sse.asgi import stream_view
from echo.sse.http import invalid_last_event_id, json_error, last_event_id, method_not_allowed

from .access import channel_manager, valid_channel
from .channels import find_channel
from .conf import app_settings
from .subscribe import channel_events, parse_last_event_id

__all__ = ["events", "forbidden_channels", "may_publish"]

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
    can_publish = getattr(channel_manager(), "can_publish_channel", None)
    if can_publish is None:
        return False
    publisher = user if user.is_authenticated else None
    # In a thread: a permission check reads the database (`user.has_perm`).
    return bool(await sync_to_async(can_publish)(publisher, channel))


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
    # Named after its channels (`events:news,alerts`), not after its first event's type.
    response = EventStreamResponse(channel_events(names, last_ids), name=f"events:{','.join(names)}")
    response.declared = frozenset().union(*(spec.names for spec in map(find_channel, names) if spec))
    return response


# The subscription view: `echo.contract` lists the declared channels at its URL.
events.sse_channels = True  # type: ignore[attr-defined]


def _grip_response(request: HttpRequest, names: list[str]) -> HttpResponseBase:
    # Behind Pushpin: django-eventstream answers with the events to replay and the GRIP
    # instructions that tell Pushpin to hold the connection open on these channels.
    from django_eventstream.eventrequest import EventRequest
    from django_eventstream.eventstream import get_events

    event_request = EventRequest(request, view_kwargs={"channels": names})
    response: HttpResponseBase = get_events(event_request).to_grip_response(request)
    response["Cache-Control"] = "no-cache"
    return response
