"""The echo endpoints: thin views over `echo.streams`."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie

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

from . import contracts, streams
from .query import EchoQuery, QueryError

__all__ = ["live_page", "sse", "sse2", "sse3", "typed_page"]

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
    params: dict[str, object] = {"message": query.message, "interval": query.interval}
    if query.limit is not None:
        params["limit"] = query.limit
    stream = f"{reverse('echo_demo:sse2')}?{urlencode(params)}"
    config = {"stream": stream, "channel": reverse("echo_broadcast:events", args=["demo"])}
    return TemplateResponse(request, "echo_demo/typed.html", {"config": config})
