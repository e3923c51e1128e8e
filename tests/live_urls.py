"""The project's URLs plus `/_probe/...` views that let tests look inside a live server process.

Only `tests.settings` routes here; the project itself never serves these.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import gc
import os
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from echo.broadcast.hub import hub
from echo.server.transport import DirectWriteServer
from echo.sse import EventStreamResponse, ServerSentEvent, merge
from echo.sse.glue.asgi import stream_view
from echo.sse.runtime.registry import registry

# token -> names of the probe sources whose `finally` has run
_finished: dict[str, list[str]] = {}


def _direct_writes() -> bool:
    """Whether this process's listening Twisted ports hand out `DirectWriteServer` connections."""
    if "twisted.internet.reactor" not in sys.modules:
        return False
    from twisted.internet import reactor, tcp

    ports = [reader for reader in reactor.getReaders() if isinstance(reader, tcp.Port)]
    return bool(ports) and all(port.transport is DirectWriteServer for port in ports)


def _queued_bytes() -> list[int]:
    """Bytes Twisted holds for each connection still writing (Twisted's own buffers)."""
    if "twisted.internet.reactor" not in sys.modules:
        return []
    from twisted.internet import reactor, tcp

    return [
        len(writer.dataBuffer) + writer._tempDataLen
        for writer in reactor.getWriters()
        if isinstance(writer, tcp.Connection)
    ]


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def stats(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "tasks": len(asyncio.all_tasks()),
            "threads": threading.active_count(),
            "thread_names": sorted(thread.name for thread in threading.enumerate()),
            "fds": len(os.listdir("/proc/self/fd")),
            "pid": os.getpid(),
            "direct_writes": _direct_writes(),
            "queued_bytes": _queued_bytes(),
            "rss_kb": _rss_kb(),
            "hub": dataclasses.asdict(hub.counters),
            "gc_frozen": gc.get_freeze_count(),
            "gc_threshold": gc.get_threshold(),
            # events sent so far by each live stream, by its query string
            "live_events": {stream.info.query: stream.info.events_sent for stream in registry.live_streams()},
            # whether each live stream's server offers a synchronous write (`write_now`)
            "writes_now": {stream.info.query: stream.writes_now for stream in registry.live_streams()},
        }
    )


async def _source(token: str, name: str, interval: float) -> AsyncIterator[ServerSentEvent]:
    try:
        n = 0
        while True:
            await asyncio.sleep(interval)
            yield ServerSentEvent(id=n, event=name, data=name)
            n += 1
    finally:
        _finished.setdefault(token, []).append(name)


async def merged(request: HttpRequest) -> EventStreamResponse:
    """Two merged sources that record their `finally` under `?token=`."""
    token = request.GET["token"]
    _finished.pop(token, None)
    interval = float(request.GET.get("interval", "0.05"))
    return EventStreamResponse(merge(_source(token, "a", interval), _source(token, "b", interval * 1.5)))


async def finished(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"finished": sorted(_finished.get(request.GET["token"], []))})


async def _burst(n: int) -> AsyncIterator[ServerSentEvent]:
    for i in range(n):
        yield ServerSentEvent(id=i, event="burst", data=str(i))


async def _burst_then_wait(n: int) -> AsyncIterator[ServerSentEvent]:
    async for event in _burst(n):
        yield event
    await asyncio.Event().wait()  # until the client goes away (or the stream is ended)


async def burst(request: HttpRequest) -> EventStreamResponse:
    """`?n=K` events at once, then nothing until the stream ends: the server's count is exactly K."""
    return EventStreamResponse(_burst_then_wait(int(request.GET["n"])))


async def gc_switch(request: HttpRequest) -> JsonResponse:
    """`?enabled=0|1`: turn the cyclic garbage collector off or on in this server process."""
    if request.GET["enabled"] == "1":
        gc.enable()
    else:
        gc.disable()
    return JsonResponse({"enabled": gc.isenabled()})


async def alive(request: HttpRequest) -> JsonResponse:
    """How many objects of each type named in `?types=` (comma-separated) are alive right now."""
    names = request.GET["types"].split(",")
    counts = dict.fromkeys(names, 0)
    for obj in gc.get_objects():
        name = type(obj).__name__
        if name in counts:
            counts[name] += 1
    return JsonResponse(counts)


# token -> the threads a sync stream view, then its request's `request_finished`, ran on
_threads: dict[str, dict[str, str]] = {}
_thread_token: contextvars.ContextVar[str] = contextvars.ContextVar("probe_thread_token")


def _note_finished(**kwargs: Any) -> None:
    token = _thread_token.get(None)
    if token is not None:
        _threads[token]["finished"] = threading.current_thread().name


request_finished.connect(_note_finished)


class _RolledBack(Exception):
    pass


@csrf_exempt
def publish_in_transaction(request: HttpRequest, channel: str) -> JsonResponse:
    """`POST ?text=...&outcome=commit|rollback`: `publish()` inside `transaction.atomic()` in this
    server process, as a `post_save` receiver would, then commit or roll back; the id it got."""
    from django.db import transaction

    from echo.broadcast.publish import publish
    from echo.demo.messages import ChatMessage, MessagePayload

    event_id = None
    try:
        with transaction.atomic():
            event_id = publish(channel, ChatMessage.create(MessagePayload(text=request.GET["text"])))
            if request.GET["outcome"] == "rollback":
                raise _RolledBack
    except _RolledBack:
        pass
    return JsonResponse({"id": event_id})


@stream_view
def threads_stream(request: HttpRequest) -> EventStreamResponse | JsonResponse:
    """A sync stream view that notes its thread under `?token=`: `?n=` events, then the stream
    ends (`?end=1`) or waits for the client to leave; `?plain=1` answers JSON instead."""
    token = request.GET["token"]
    _threads[token] = {"view": threading.current_thread().name}
    _thread_token.set(token)  # the request's context: `request_finished` runs in a copy of it
    if request.GET.get("plain"):
        return JsonResponse({"plain": True})
    n = int(request.GET.get("n", "1"))
    return EventStreamResponse(_burst(n) if request.GET.get("end") else _burst_then_wait(n))


async def threads(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_threads.get(request.GET["token"], {}))


@csrf_exempt
async def body(request: HttpRequest) -> EventStreamResponse:
    """POST: one event with the request body (read by the view), then `closed`: whether the
    stream, once started, still reads the request's body file."""
    data = request.body.decode()

    async def events() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(event="body", data=data)
        try:
            request.read()
        except ValueError:
            yield ServerSentEvent(event="closed", data="")

    return EventStreamResponse(events(), request=request)


async def _failing(after: int) -> AsyncIterator[ServerSentEvent]:
    for n in range(after):
        yield ServerSentEvent(id=n, event="tick", data=str(n))
    raise ValueError("boom")


def fail(request: HttpRequest) -> EventStreamResponse:
    """A stream whose source raises after `?after=` events (0: before its first)."""
    return EventStreamResponse(_failing(int(request.GET.get("after", "0"))), ping=None)


@stream_view
def fail_view(request: HttpRequest) -> EventStreamResponse:
    """A stream view that raises before it has a response."""
    raise ValueError("the view failed")


async def _stuck() -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(event="tick", data="0")
    ignored = False
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if ignored:
                raise
            ignored = True  # deaf to the first request to stop (a shutdown's end_stream)


def stuck(request: HttpRequest) -> EventStreamResponse:
    """A stream that does not end when asked to, once: a drain must not wait for it forever."""
    return EventStreamResponse(_stuck(), ping=None)


@csrf_exempt
def terminate_all(request: HttpRequest) -> JsonResponse:
    """POST: end every stream this process serves as an operator's terminate does."""
    from echo.sessions.bus import end_local

    return JsonResponse({"ended": end_local([response.info.id for response in registry.live_streams()])})


async def named(request: HttpRequest) -> EventStreamResponse:
    """A stream named by its client (`?name=`): a hostile source of stream names, which the
    metrics' `stream` label must stay bounded against. One event, then open until the client goes."""
    return EventStreamResponse(_burst_then_wait(1), name=request.GET["name"])


def no_content(request: HttpRequest) -> HttpResponse:
    """A stream endpoint with nothing to say: 204, which tells a client not to reconnect."""
    return HttpResponse(status=204)


urlpatterns = [
    path("_probe/terminate_all", terminate_all),
    path("_probe/no_content", no_content),
    path("_probe/named", named),
    path("_probe/stuck", stuck),
    path("_probe/fail", fail),
    path("_probe/fail_view", fail_view),
    path("_probe/stats", stats),
    path("_probe/body", body),
    path("_probe/burst", burst),
    path("_probe/merged", merged),
    path("_probe/finished", finished),
    path("_probe/threads_stream", threads_stream),
    path("_probe/threads", threads),
    path("_probe/gc", gc_switch),
    path("_probe/alive", alive),
    path("_probe/publish_in_transaction/<str:channel>", publish_in_transaction),
    path("", include("sse_project.urls")),
]
