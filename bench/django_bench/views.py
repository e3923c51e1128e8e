"""Bench-only views.

`POST /bench/publish?channel=c&n=200&mode=ours|stock&rate=0&first=0`: publish in-process.

Each event carries the wall-clock time just before its publish call (`sent`) and its sequence
number (`first`, `first + 1`, ...), so that a subscriber measures publish-to-receive latency.
`mode=ours` publishes a typed event with `echo.broadcast.apublish`; `mode=stock` calls
`django_eventstream.send_event`. Both store the event (same storage class) before delivering it.
`rate` events per second follow an absolute schedule; 0 publishes back to back. Answers JSON
with the count and the seconds taken.

`POST /bench/recording?on=1|0`: session recording on or off for the streams that start from now
on, in this process (the recorder stays or stops being an observer, as `RECORD_SESSIONS` decides
at start-up), so that the recording scenario compares on and off in one server, round by round.
"""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_eventstream import send_event
from pydantic import BaseModel

from echo.broadcast.publish import apublish
from echo.sessions.recorder import recorder
from echo.sse import BaseEvent
from echo.sse.runtime.registry import registry


class TickPayload(BaseModel):
    seq: int
    sent: float


class BenchTick(BaseEvent[TickPayload]):
    """Wire name `bench_tick`, as the stock mode's event type."""


async def _publish_ours(channel: str, seq: int) -> None:
    await apublish(channel, BenchTick.create(TickPayload(seq=seq, sent=time.time())))


_send_stock = sync_to_async(send_event)


async def _publish_stock(channel: str, seq: int) -> None:
    await _send_stock(channel, BenchTick.event_name, {"seq": seq, "sent": time.time()})


@csrf_exempt
async def publish(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    try:
        channel = request.GET["channel"]
        count = int(request.GET.get("n", "1"))
        rate = float(request.GET.get("rate", "0"))
        first = int(request.GET.get("first", "0"))
        one = {"ours": _publish_ours, "stock": _publish_stock}[request.GET["mode"]]
    except (KeyError, ValueError) as exc:
        return JsonResponse({"error": f"bad query: {exc!r}"}, status=400)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for seq in range(count):
        if rate > 0:
            await asyncio.sleep(max(0.0, start + seq / rate - loop.time()))
        await one(channel, first + seq)
    return JsonResponse({"published": count, "seconds": loop.time() - start})


@csrf_exempt
async def recording(request: HttpRequest) -> JsonResponse:
    if request.method != "POST" or request.GET.get("on") not in ("0", "1"):
        return JsonResponse({"error": "POST with on=1 or on=0"}, status=400)
    if request.GET["on"] == "1":
        registry.add_observer(recorder)
    else:
        registry.remove_observer(recorder)
    return JsonResponse({"recording": recorder in registry.observers()})


@csrf_exempt
async def terminate(request: HttpRequest) -> JsonResponse:
    """`POST /bench/terminate?n=K`: the admin's terminate action on K live sessions (bench/soak.py)."""
    from echo.sessions.bus import aterminate_sessions
    from echo.sessions.models import StreamSession

    if request.method != "POST":
        return JsonResponse({"error": "POST only"}, status=405)
    count = int(request.GET.get("n", "1"))
    live = StreamSession.objects.filter(ended_at__isnull=True, path="/sse2").values_list("id", flat=True)
    ids = [session_id async for session_id in live[:count]]
    await aterminate_sessions(ids)
    return JsonResponse({"terminated": len(ids)})
