"""Bench-only views, in the server's own process.

`POST /bench/publish?channel=c&n=200`: publishes `n` events back to back, each
carrying its sequence number and the wall-clock time of its publish (for the subscribers'
latency), through echo.broadcast's public `apublish_many`; answers the
seconds the publishing took (django-eventstream's twin: stock.py).
`GET /bench/bare?interval=0&limit=1`: the bare-Django-view floor, `/sse2`'s bytes from a plain
async `StreamingHttpResponse`. `POST /bench/terminate?n=K`: the admin's terminate on K sessions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel

from echo.sse import BaseEvent


class TickPayload(BaseModel):
    seq: int
    sent: float


class BenchTick(BaseEvent[TickPayload]):
    """Wire name `bench_tick`."""


@csrf_exempt
async def publish(request: HttpRequest) -> JsonResponse:
    from echo.broadcast.publish import apublish_many

    began, channel, count = time.perf_counter(), request.GET["channel"], int(request.GET["n"])
    await apublish_many(
        channel, [BenchTick.create(TickPayload(seq=n, sent=time.time())) for n in range(count)]
    )
    return JsonResponse({"published": count, "seconds": time.perf_counter() - began})


async def _bare_events(interval: float, limit: int | None) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in itertools.count():
        await asyncio.sleep(max(0.0, start + (n + 1) * interval - loop.time()) if interval else 0)
        data = json.dumps({"message": "hello", "created_at": datetime.now().isoformat()})
        yield f"id: {n}\nevent: echo\ndata: {data}\n\n".encode()
        if n + 1 == limit:
            return


async def bare(request: HttpRequest) -> StreamingHttpResponse:
    limit = request.GET.get("limit")
    events = _bare_events(float(request.GET.get("interval", "1")), int(limit) if limit else None)
    return StreamingHttpResponse(events, content_type="text/event-stream")


@csrf_exempt
async def terminate(request: HttpRequest) -> JsonResponse:
    from echo.sessions.bus import aterminate_sessions
    from echo.sessions.models import StreamSession

    live = StreamSession.objects.filter(ended_at__isnull=True, path="/sse2").values_list("id", flat=True)
    ids = [pk async for pk in live[: int(request.GET.get("n", "1"))]]
    await aterminate_sessions(ids)
    return JsonResponse({"terminated": len(ids)})
