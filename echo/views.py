"""The echo endpoints: thin views over `echo.streams`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import streams
from .query import EchoQuery, QueryError
from .sse import EventStreamResponse

__all__ = ["json_error", "sse", "sse2", "sse3"]

_ALLOWED = ("GET", "HEAD")


def json_error(status: int, error: str, detail: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail, **extra}, status=status)


def _echo_endpoint(
    view: Callable[[HttpRequest, EchoQuery], Awaitable[HttpResponseBase]],
) -> Callable[..., Any]:
    """GET and HEAD only, with the query validated; every refusal is a JSON 4xx.

    CSRF-exempt because these views change nothing: a POST gets the JSON 405, not an HTML 403.
    """

    @csrf_exempt
    @functools.wraps(view)
    async def wrapper(request: HttpRequest) -> HttpResponseBase:
        if request.method not in _ALLOWED:
            response = json_error(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here.",
                allowed=list(_ALLOWED),
            )
            response["Allow"] = ", ".join(_ALLOWED)
            return response
        try:
            query = EchoQuery.from_query(request.GET)
        except QueryError as exc:
            first = exc.errors[0]
            return json_error(
                400, "invalid_parameter", str(exc), parameter=first["parameter"], errors=exc.errors
            )
        return await view(request, query)

    return wrapper


@_echo_endpoint
async def sse(request: HttpRequest, query: EchoQuery) -> HttpResponseBase:
    return EventStreamResponse(streams.take(streams.echo_untyped(query.message, query.interval), query.limit))


@_echo_endpoint
async def sse2(request: HttpRequest, query: EchoQuery) -> HttpResponseBase:
    return EventStreamResponse(streams.take(streams.echo(query.message, query.interval), query.limit))


@_echo_endpoint
async def sse3(request: HttpRequest, query: EchoQuery) -> HttpResponseBase:
    stream = streams.echo_and_reverse(query.message, query.interval)
    return EventStreamResponse(streams.take(stream, query.limit))
