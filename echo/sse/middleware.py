"""`EventStreamMiddleware`: ties every `EventStreamResponse` to the request that produced it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from .response import EventStreamResponse

__all__ = ["EventStreamMiddleware"]


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
        if isinstance(response, EventStreamResponse):
            response.bind(request)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        response = await get_response(request)
        if isinstance(response, EventStreamResponse):
            response.bind(request)
        return response
