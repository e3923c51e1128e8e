"""`EventStreamMiddleware`: ties every `EventStreamResponse` to the request that produced it, and
admits it only within the stream limits (`MAX_STREAMS`, `MAX_STREAMS_PER_CLIENT`).

A stream over a limit is refused at once, before it starts, with a JSON 503 (the process is full)
or 429 (this client address holds too many) and a `Retry-After`: never accepted and then hung.
The client address is `REMOTE_ADDR`, validated (`echo.sse.glue.http.client_address`: what is no
address counts as one shared client), which behind a reverse proxy is the proxy's own unless the
server is told to take it from the proxy's headers (`--proxy-headers` for Daphne and uvicorn);
then the proxy must overwrite `X-Forwarded-For`, or each client chooses its own address.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from ..conf import app_settings
from ..runtime.registry import Refusal
from .http import json_error
from .response import EventStreamResponse

__all__ = ["RETRY_AFTER", "EventStreamMiddleware"]

RETRY_AFTER = 5  # seconds, in the Retry-After of a refused stream


class EventStreamMiddleware:
    """Binds streams to their request, so HEAD never starts one; native async, so no thread hop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        response: HttpResponseBase = self.get_response(request)
        return _admitted(request, response)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        return _admitted(request, await get_response(request))


def _admitted(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    if not isinstance(response, EventStreamResponse):
        return response
    response.bind(request)
    if request.method == "HEAD":
        return response  # starts no stream
    refusal = response.admit(limit=app_settings.MAX_STREAMS, per_client=app_settings.MAX_STREAMS_PER_CLIENT)
    if refusal is None:
        return response
    response.close()  # never started: its source is closed, nothing was counted
    if refusal is Refusal.PROCESS:
        refused = json_error(
            503, "too_many_streams", "This server is serving as many streams as it can; retry later."
        )
    else:
        refused = json_error(
            429,
            "too_many_streams_from_client",
            "Too many open streams from this address; close one or retry later.",
        )
    refused["Retry-After"] = str(RETRY_AFTER)
    return refused
