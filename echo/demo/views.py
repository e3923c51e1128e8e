"""The echo endpoints: thin views over `echo.streams`."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie

from echo.broadcast.bootstrap import channel_positions, stream_url
from echo.broadcast.storage import read_stored
from echo.broadcast.views import forbidden_channels
from echo.sse import EventStreamComplete, EventStreamResponse, LastEventIdError, ServerSentEvent
from echo.sse.glue.asgi import stream_view
from echo.sse.glue.contract import declare
from echo.sse.glue.http import (
    WHOLE_ID,
    WHOLE_ID_TEXT,
    invalid_last_event_id,
    json_error,
    last_event_id,
    method_not_allowed,
)
from echo.tickets.issue import TicketError, issue_ticket

from . import contracts, fragments, streams
from .access import DEMO_CHANNEL
from .messages import ChatMessage
from .query import EchoQuery, QueryError

__all__ = [
    "channel_page",
    "completion_page",
    "htmx_page",
    "htmx_sse",
    "live_page",
    "sse",
    "sse2",
    "sse3",
    "tickets_page",
    "typed_page",
]

_ALLOWED = ("GET", "HEAD")


def _echo_endpoint(view: Callable[[HttpRequest, EchoQuery], HttpResponseBase]) -> Callable[..., Any]:
    """GET and HEAD only, with the query validated; every refusal is a JSON 4xx.

    CSRF-exempt because these views change nothing: a POST gets the JSON 405, not an HTML 403.
    Plain functions, not coroutines: they await nothing, and a sync stream view runs in the one
    thread hop of its request phase, where an async one would be bridged back to the event loop
    and out again (see `echo.sse.glue.asgi.stream_view`).
    """

    @stream_view
    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponseBase:
        if request.method not in _ALLOWED:
            return method_not_allowed(request, _ALLOWED)
        try:
            query = EchoQuery.from_query(request.GET)
        except QueryError as exc:
            first = exc.errors[0]
            return json_error(
                400, "invalid_parameter", str(exc), parameter=first["parameter"], errors=exc.errors
            )
        return view(request, query)

    return wrapper


def _next_id(request: HttpRequest) -> int:
    """The id to number from: one after a numeric Last-Event-ID, else 0."""
    raw = last_event_id(request)
    if not raw:
        return 0
    if not WHOLE_ID.fullmatch(raw):
        raise LastEventIdError(raw, WHOLE_ID_TEXT)
    return int(raw) + 1


def _resumable(view: Callable[[HttpRequest, EchoQuery], HttpResponseBase]) -> Any:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, query: EchoQuery) -> HttpResponseBase:
        try:
            return view(request, query)
        except LastEventIdError as exc:
            return invalid_last_event_id(exc)

    return wrapper


def _left(limit: int | None, sent: int) -> int | None:
    """Events still to send when the client has `sent` of them: `limit` counts the whole stream,
    however many connections it takes (None: no end)."""
    return None if limit is None else max(0, limit - sent)


def _bounded(stream: AsyncIterator[ServerSentEvent], left: int | None) -> HttpResponseBase:
    if left == 0:
        # Nothing more to send: 204 stops the browser's EventSource, where a stream would end at
        # once and be reopened by it for ever.
        return EventStreamComplete()
    return EventStreamResponse(streams.take(stream, left))


@declare(contracts.SSE)
@_echo_endpoint
@_resumable
def sse(request: HttpRequest, query: EchoQuery) -> HttpResponseBase:
    first = _next_id(request)
    return _bounded(
        streams.echo_untyped(query.message, query.interval, first_id=first), _left(query.limit, first)
    )


@declare(contracts.SSE2)
@_echo_endpoint
@_resumable
def sse2(request: HttpRequest, query: EchoQuery) -> HttpResponseBase:
    first = _next_id(request)
    return _bounded(streams.echo.resume(first, query.message, query.interval), _left(query.limit, first))


@declare(contracts.SSE3)
@_echo_endpoint
@_resumable
def sse3(request: HttpRequest, query: EchoQuery) -> HttpResponseBase:
    """Plain per-source ids, as the article shows, unless the client asks to be able to resume.

    `?resumable=1`, or a composite Last-Event-ID (`echo:2,reverse_echo:1`) from an earlier
    resumable stream, gives composite ids. A plain numeric Last-Event-ID cannot say which source
    it belongs to, so it is ignored and the stream starts over, as the article's server does.
    A composite id says how many events were sent (each source's number plus one, summed), which
    `limit` counts with, as on /sse and /sse2.
    """
    raw = last_event_id(request)
    resume_from: dict[str, int] | None = {} if query.resumable else None
    if raw and not WHOLE_ID.fullmatch(raw):
        try:
            resume_from = streams.parse_composite_id(raw)
        except ValueError:
            raise LastEventIdError(
                raw, f"source:id pairs such as echo:2,reverse_echo:1, each id {WHOLE_ID_TEXT}"
            ) from None
    stream = streams.echo_and_reverse(query.message, query.interval, resume_from)
    sent = sum(number + 1 for number in (resume_from or {}).values())
    return _bounded(stream, _left(query.limit, sent))


@ensure_csrf_cookie
async def live_page(request: HttpRequest) -> HttpResponseBase:
    """`GET /`: /sse3 and a broadcast channel, live in the browser, with a form to publish."""
    if request.method not in _ALLOWED:
        return method_not_allowed(request, _ALLOWED)
    return TemplateResponse(request, "echo_demo/live.html", {"channel": "demo"})


@declare(fragments.HTMX_SSE)
@_echo_endpoint
@_resumable
def htmx_sse(request: HttpRequest, query: EchoQuery) -> HttpResponseBase:
    """`/htmx/sse`: each echo as an HTML card (`echo_card`), for htmx's SSE extension."""
    first = _next_id(request)
    # As on /sse2: htmx's extension is an EventSource, stopped past the limit by the 204.
    return _bounded(
        fragments.echo_cards.resume(first, query.message, query.interval), _left(query.limit, first)
    )


async def htmx_page(request: HttpRequest) -> HttpResponseBase:
    """`GET /htmx/`: the live page's htmx variant, `/htmx/sse` swapped in by htmx's SSE extension."""
    if request.method not in _ALLOWED:
        return method_not_allowed(request, _ALLOWED)
    # Markup by default: the page shows that a fragment's values arrive escaped.
    message = request.GET.get("message", "")[:_PAGE_MESSAGE] or "hello <b>htmx</b>"
    query = urlencode({"message": message, "interval": "1"})
    return TemplateResponse(request, "echo_demo/live_htmx.html", {"message": message, "query": query})


_PAGE_MESSAGE = 200  # characters of `?message=` the htmx page passes on


_RECENT = 10  # messages the channel page renders before its stream takes over


async def channel_page(request: HttpRequest) -> HttpResponseBase:
    """`GET /channel/`: the demo channel's last messages, rendered, then live from where they end.

    The position is read first and the messages up to it: whatever is published after the read,
    even before the page's `EventSource` connects, comes on its stream (`echo.broadcast.bootstrap`).
    """
    if request.method not in _ALLOWED:
        return method_not_allowed(request, _ALLOWED)
    if await forbidden_channels(request, [DEMO_CHANNEL]):
        return json_error(403, "forbidden", f"Permission denied to channel: {DEMO_CHANNEL}")
    positions = await sync_to_async(channel_positions)([DEMO_CHANNEL])
    position = positions[DEMO_CHANNEL] or 0
    stored = await read_stored(DEMO_CHANNEL, max(0, position - _RECENT), position) if position else []
    messages = [(f"{item.channel}:{item.id}", ChatMessage.from_data(item.data).data.text) for item in stored]
    context = {
        "channel": DEMO_CHANNEL,
        "messages": messages,
        "stream_url": stream_url([DEMO_CHANNEL], positions),
    }
    return TemplateResponse(request, "echo_demo/channel_bootstrap.html", context)


# One server, two origins on a laptop: the tickets page on one name reads streams from the other.
_OTHER_LOOPBACK = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}


def _stream_origin(request: HttpRequest) -> str:
    host, colon, port = request.get_host().rpartition(":")
    if not colon:
        host, port = port, ""
    other = _OTHER_LOOPBACK.get(host, host)
    return f"{request.scheme}://{other}{':' + port if port else ''}"


@login_required(login_url="/admin/login/")
@ensure_csrf_cookie
def tickets_page(request: HttpRequest) -> HttpResponseBase:
    """`GET /tickets?channel=demo`: a channel read from the other loopback origin with a stream
    ticket issued for the signed-in user, rendered into the page."""
    if request.method not in _ALLOWED:
        return method_not_allowed(request, _ALLOWED)
    channel = request.GET.get("channel", DEMO_CHANNEL)
    try:
        ticket = issue_ticket(request.user, channels=[channel])
    except TicketError as refused:
        return json_error(refused.status, refused.code, refused.detail)
    try:
        issue_url = reverse("echo_tickets:issue")
    except NoReverseMatch:
        issue_url = ""  # the site has not mounted echo.tickets.urls: no new tickets from the page
    config = {"origin": _stream_origin(request), "url": ticket.url, "channel": channel, "issue": issue_url}
    return TemplateResponse(request, "echo_demo/tickets.html", {"config": config})


async def completion_page(request: HttpRequest) -> HttpResponseBase:
    """`GET /completion/`: two pages' ways to read a stream that completes (/sse2 with a limit):
    one closes its EventSource on `completed`, the other leaves it to the server's 204.
    `?message=` names the streams' message (each test its own)."""
    if request.method not in _ALLOWED:
        return method_not_allowed(request, _ALLOWED)
    message = request.GET.get("message", "")[:100] or "hello"
    streams = {
        name: f"{reverse('echo_demo:sse2')}?{urlencode([('message', f'{message}-{name}'), *_SHORT])}"
        for name in ("listening", "plain")
    }
    return TemplateResponse(request, "echo_demo/completion.html", {"streams": streams})


# Five events, a fifth of a second apart: long enough to watch, short enough to end.
_SHORT = (("limit", "5"), ("interval", "0.2"))


@ensure_csrf_cookie
async def typed_page(request: HttpRequest) -> HttpResponseBase:
    """`GET /typed/`: `/sse2` and the `demo` channel read by the static module `TypedEventSource`.

    The page's own query (`message`, `interval`, `limit`) is the stream's, validated here so that a
    bad one is a JSON 400 rather than a page whose stream fails.
    """
    if request.method not in _ALLOWED:
        return method_not_allowed(request, _ALLOWED)
    given = request.GET.copy()
    given.setdefault("message", "hello")
    try:
        query = EchoQuery.from_query(given)
    except QueryError as exc:
        first = exc.errors[0]["parameter"]
        return json_error(400, "invalid_parameter", str(exc), parameter=first, errors=exc.errors)
    params = {"message": query.message, "interval": str(query.interval)}
    if query.limit is not None:
        params["limit"] = str(query.limit)
    stream = f"{reverse('echo_demo:sse2')}?{urlencode(params)}"
    config = {"stream": stream, "channel": reverse("echo_broadcast:events", args=["demo"])}
    return TemplateResponse(request, "echo_demo/typed.html", {"config": config})
