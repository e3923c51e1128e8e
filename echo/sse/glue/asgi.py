"""An ASGI handler that serves long-lived streams without an OS thread, or extra tasks, each.

Django's `ASGIHandler` wraps each request in one `ThreadSensitiveContext`. The first sync piece of
the request (a `request_started` receiver, a sync middleware) starts a worker thread for that
context, and the thread lives until the context exits: after the response body is finished. For
an event stream that is one idle OS thread per open connection, for hours. Django also runs the
response in a task of its own beside a task that waits for the disconnect.

`ASGIHandler` here runs the same Django machinery (signals, middleware, the view, the response's
`close()`) but ends the request's thread-sensitive context as soon as the view has returned a
streaming response, so the body is streamed from the event loop alone (and the thread a request
borrows for its sync parts is a kept one, see `echo.sse.runtime.threads`); sync work a stream still
needs later runs elsewhere: `response.close()` and its `request_finished` receivers on the thread
the request phase used, as Django runs them, and a `sync_to_async` call in the stream on asgiref's
shared executor. The response is sent from the request's own task, which is cancelled when the
client goes away: a callback on the `Inbox` that `echo.server` hands out under Daphne notices it,
or else a small watcher task (`echo.sse.glue.disconnect`). An `EventStreamResponse` is also given
the raw `send`, so keep-alive comments need no task per stream (see `echo.sse.glue.response`).
What the handler asks of the objects it meets is read from their types: the inbox the server
named in the scope (`echo.sse.runtime.inbox.offered`), `EventStreamResponse`, and a view marked by
`stream_view` (`echo.sse.runtime.protocols.StreamView`).
Non-streaming responses are handled as Django handles them.

Use it in `asgi.py` in place of `django.core.asgi.get_asgi_application()`.

Django's undocumented handler steps and attributes it relies on are read through
`echo.sse.glue.django_internals` (listed there and in docs/upstream.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping
from typing import IO, Any, TypeVar, cast

import django
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core import signals
from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestAborted,
    SuspiciousOperation,
)
from django.http import Http404, HttpRequest, HttpResponseBase
from django.http.multipartparser import MultiPartParserError
from django.urls import Resolver404, URLResolver, get_resolver, set_script_prefix

from ..conf import app_settings
from ..runtime.inbox import offered
from ..runtime.protocols import StreamView
from ..runtime.startup import announce_ready, announced, application_ready
from ..runtime.threads import ExecutorPool, RequestPhase
from .disconnect import Disconnected, DisconnectWatcher
from .django_internals import DjangoASGIHandler, ResponseHead, mark_handled_by, script_prefix, sync_handler
from .http import json_error
from .response import EventStreamResponse

__all__ = ["ASGIHandler", "get_asgi_application", "stream_view"]

logger = logging.getLogger("echo.sse")

V = TypeVar("V", bound=Callable[..., Any])

_Scope = dict[str, Any]


def stream_view(view: V) -> V:
    """Mark a view as a stream view: `ASGIHandler` runs its request phase in one thread hop.

    Django runs each sync-capable middleware of an async request through its own
    `sync_to_async` call: a dozen trips between the event loop and a worker thread before the
    view runs. For a view marked here, the handler instead runs Django's sync handler chain
    (`request_started`, every middleware, `request_finished` on close) in one borrowed thread.
    A sync view runs right there; an async one is bridged to the event loop and back by Django,
    two more hops, so a view that awaits nothing is best written sync. Either should return its
    response promptly (a stream view does: the streaming happens afterwards, on the event loop).

    A view that raises (anything but the exceptions Django answers with a 4xx) is answered with a
    JSON 500 and logged once with its traceback: a stream's client reads JSON, not Django's HTML
    error page.
    """
    wrapper: Any
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                response: HttpResponseBase = await view(request, *args, **kwargs)
            except _DJANGOS_OWN:
                raise
            except Exception as exc:  # noqa: BLE001 - answered as JSON and logged, as Django would
                return _server_error(request, exc)
            return response

    else:

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                response: HttpResponseBase = view(request, *args, **kwargs)
            except _DJANGOS_OWN:
                raise
            except Exception as exc:  # noqa: BLE001 - answered as JSON and logged, as Django would
                return _server_error(request, exc)
            return response

    wrapper.echo_stream_view = True
    return cast(V, wrapper)


# What Django's exception handling answers with a 4xx of its own; left to it.
_DJANGOS_OWN = (Http404, PermissionDenied, BadRequest, SuspiciousOperation, MultiPartParserError)


def _server_error(request: HttpRequest, exc: Exception) -> HttpResponseBase:
    logger.error("Internal Server Error: %s", request.path, exc_info=exc)
    return json_error(500, "server_error", "The server could not start this stream.")


class ASGIHandler(DjangoASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._pool = ExecutorPool(app_settings.SYNC_THREADS)
        self._sync_handler = sync_handler()
        # Made once: building a `sync_to_async` wrapper costs a few microseconds every request.
        self._respond_sync = sync_to_async(self._respond_in_thread)

    async def __call__(self, scope: _Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._not_http(scope, receive, send)
            return
        if not announced():
            # A server that neither says when it starts (echo.server does) nor speaks lifespan.
            await sync_to_async(announce_ready, thread_sensitive=False)(ASGIHandler)
        try:
            body_file: IO[bytes] | None = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(script_prefix(scope))
        watcher = DisconnectWatcher(self, receive, offered(scope))
        response: HttpResponseBase | None = None
        try:
            async with RequestPhase(self._pool) as request_phase:
                try:
                    async with watcher:
                        response = await self._respond(scope, body_file)
                    # Not needed again, and this frame is held as long as a stream is open.
                    del scope, receive
                    if response.streaming:
                        # The request's worker thread is released here; only the body remains to
                        # be sent. (Any other response is sent and closed inside the phase, as
                        # Django does.)
                        await request_phase.end()
                        body_file = _stream_directly(response, send, body_file)
                    # Sent from this frame, not a helper's: a stream keeps it for hours.
                    async with watcher:
                        await self.send_response(response, send)
                except Disconnected:
                    pass  # the client left: the request is finished as after a whole response
                except BaseException as error:
                    # A stream ended because its client stopped reading (`end_slow`) is finished
                    # like a client that left; any other failure or cancellation goes on.
                    if not _ended_slow(response, error):
                        await _close(request_phase, response)
                        raise
                # Not from inside the `except`: `sync_to_async` hands the exception being handled
                # to the worker thread, which raises it again there, and the thread's frame in its
                # traceback makes a reference cycle of it and of every frame the client's leaving
                # went through: all of a connection's objects would be left to the cyclic garbage
                # collector (docs/performance.md: a large share of the CPU under connect churn).
                await self._finish(request_phase, response)
        finally:
            await watcher.stop()
            if body_file is not None:
                body_file.close()

    # Django's `__call__` runs `handle()`; here they are one coroutine, one frame per open stream.
    handle = __call__

    async def _not_http(self, scope: _Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")

    async def _finish(self, request_phase: RequestPhase, response: HttpResponseBase | None) -> None:
        if response is None:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await request_phase.close(response)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        # ASGI's lifespan protocol (uvicorn speaks it): start-up is when the process says how it
        # runs; nothing needs tearing down (a graceful shutdown drains streams on the signal).
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await sync_to_async(announce_ready, thread_sensitive=False)(ASGIHandler)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def send_response(self, response: HttpResponseBase, send: Any) -> None:
        if not response.streaming:
            await super().send_response(response, send)
            return
        # As Django sends a streaming response, but Django's encoded header list, held by its
        # frame until the last byte, is let go once the headers are out: a stream keeps its
        # response open for hours, and that list is paid once per open stream.
        await self._send_start(response, send)
        if isinstance(response, EventStreamResponse):
            response.headers_sent()
        parts = aiter(cast(AsyncIterable[bytes], response))
        async with contextlib.aclosing(cast(AsyncGenerator[bytes, None], parts)) as content:
            async for part in content:
                for chunk, _ in self.chunk_bytes(part):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body"})

    async def _send_start(self, response: HttpResponseBase, send: Any) -> None:
        """Django's `http.response.start` for `response` (status, headers, cookies), alone."""

        async def start_only(message: Mapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                await send(message)

        await super().send_response(cast(HttpResponseBase, ResponseHead(response)), start_only)

    async def _respond(self, scope: _Scope, body_file: Any) -> HttpResponseBase:
        if _is_stream_view(scope):
            response: HttpResponseBase = await self._respond_sync(scope, body_file)
            return response
        await signals.request_started.asend(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            return error_response
        response = await self.run_get_response(request)
        return response

    def _respond_in_thread(self, scope: _Scope, body_file: Any) -> HttpResponseBase:
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            return error_response
        response: HttpResponseBase = self._sync_handler.get_response(request)
        mark_handled_by(response, self.__class__)
        return response


def _stream_directly(response: HttpResponseBase, send: Any, body_file: IO[bytes] | None) -> IO[bytes] | None:
    """Give an event stream the raw `send` (see `EventStreamResponse`); the body file left open."""
    if not isinstance(response, EventStreamResponse):
        return body_file
    response.attach_sender(send)
    # An event stream closes its request as it starts (the body with it): nothing here need keep
    # the body for hours.
    if body_file is not None:
        body_file.close()
    return None


async def _close(request_phase: RequestPhase, response: HttpResponseBase | None) -> None:
    if response is not None:
        await request_phase.close(response)


def _ended_slow(response: HttpResponseBase | None, error: BaseException) -> bool:
    """Whether `error` is the cancellation of the slow-client end; if so it is taken back
    (`Task.uncancel`), so the request finishes normally."""
    if not isinstance(error, asyncio.CancelledError):
        return False
    if not isinstance(response, EventStreamResponse) or not response.ended_slow:
        return False
    task = asyncio.current_task()
    return task is not None and task.uncancel() == 0


def _is_stream_view(scope: _Scope) -> bool:
    # Only an optimisation: a path this cannot match takes Django's usual route.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    root = root.rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :] or "/"
    return _resolves_to_stream_view(get_resolver(), path)


@functools.lru_cache(maxsize=1024)
def _resolves_to_stream_view(resolver: URLResolver, path: str) -> bool:
    # Keyed by the resolver too: changing ROOT_URLCONF (or clear_url_caches()) makes a new one.
    try:
        match = resolver.resolve(path)
    except Resolver404:
        return False
    return isinstance(match.func, StreamView) and match.func.echo_stream_view


def get_asgi_application() -> ASGIHandler:
    """Like `django.core.asgi.get_asgi_application`, with streams that pin no thread."""
    django.setup(set_prefix=False)
    # Tuned when the process starts serving, not here: a system check imports this too.
    application_ready.connect(_tune_process, dispatch_uid="echo.sse.glue.asgi.tune")
    return ASGIHandler()


def _tune_process(**kwargs: Any) -> None:
    """Process-wide collector settings for serving many long-lived streams (`ECHO`, `echo.sse.conf`)."""
    if app_settings.GC_THRESHOLD is not None:
        gc.set_threshold(*app_settings.GC_THRESHOLD)
    if app_settings.GC_FREEZE:
        # What is loaded now lives as long as the process: collections need not walk it.
        gc.collect()
        gc.freeze()
