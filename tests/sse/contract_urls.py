"""Stream views with declared events, for the contract's and the testing helper's tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponseBase
from django.urls import path

from echo.sse import BaseEvent, EventStreamResponse, event_source
from echo.sse.glue.contract import StreamContract, declare
from echo.sse.glue.http import json_error, last_event_id


class Tick(BaseEvent[int]):
    pass


class Stray(BaseEvent[str]):
    pass


TICKS: StreamContract[Tick] = StreamContract(Tick, description="Whole numbers from 0.")


@event_source
async def ticks(stray_after: int | None = None) -> AsyncIterator[BaseEvent[int] | BaseEvent[str]]:
    n = 0
    while True:
        if n == stray_after:
            yield Stray.create("not declared")
        yield Tick.create(n)
        n += 1
        if n % 50 == 0:
            await asyncio.sleep(0)


@declare(TICKS)
def tick_view(request: HttpRequest) -> HttpResponseBase:
    if "refuse" in request.GET:
        return json_error(400, "invalid_parameter", "refused")
    start = int(last_event_id(request) or -1) + 1
    stray = request.GET.get("stray")
    return EventStreamResponse(ticks.resume(start, None if stray is None else int(stray)), request=request)


@declare(Tick, ids="none")
async def async_tick_view(request: HttpRequest) -> HttpResponseBase:
    async def one() -> AsyncIterator[Tick]:
        yield Tick.create(7)

    return EventStreamResponse(one(), request=request)


def plain_view(request: HttpRequest) -> HttpResponseBase:
    async def words() -> AsyncIterator[str]:
        for word in ("a", "b"):
            yield word

    return EventStreamResponse(words(), request=request)


urlpatterns = [
    path("ticks", tick_view),
    path("async-ticks", async_tick_view),
    path("plain", plain_view),
]
