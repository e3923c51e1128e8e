"""An ASGI handler that serves long-lived streams without an OS thread, or extra tasks, each.

Django's `ASGIHandler` wraps each request in one `ThreadSensitiveContext`. The first sync piece of
the request (a `request_started` receiver, a sync middleware) starts a worker thread for that
context, and the thread lives until the context exits: after the response body is finished. For
an event stream that is one idle OS thread per open connection, for hours. Django also runs the
response in a task of its own beside a task that waits for the disconnect.

`ASGIHandler` here runs the same Django machinery (signals, middleware, the view, the response's
`close()`) but ends the request's thread-sensitive context as soon as the view has returned a
streaming response, so the body is streamed from the event loop alone; sync work a stream still
needs (`response.close()` and its `request_finished` receivers, a `sync_to_async` call in the
stream) runs on asgiref's shared executor. The response is sent from the request's own task; a
small watcher task cancels it when the client goes away. An `EventStreamResponse` is also given
the raw `send`, so keep-alive comments need no task per stream (see `echo.sse.response`).
Non-streaming responses are handled as Django handles them.

Use it in `asgi.py` in place of `django.core.asgi.get_asgi_application()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import asgi as django_asgi
from django.http import HttpResponseBase
from django.urls import set_script_prefix

__all__ = ["ASGIHandler", "get_asgi_application"]

T = TypeVar("T")

_Scope = dict[str, Any]


class _Disconnected(Exception):
    pass


class _DisconnectWatcher:
    """Cancels the request's task when the client goes away, while `guard()` is running."""

    def __init__(self, handler: django_asgi.ASGIHandler, receive: Any) -> None:
        self.gone = False
        self._guarding = False
        self._owner = asyncio.current_task()
        self._task = asyncio.create_task(self._watch(handler, receive))

    async def _watch(self, handler: django_asgi.ASGIHandler, receive: Any) -> None:
        with contextlib.suppress(RequestAborted):
            await handler.listen_for_disconnect(receive)
        self.gone = True
        if self._guarding and self._owner is not None:
            self._owner.cancel()

    async def guard(self, work: Awaitable[T]) -> T:
        """Await `work` in this task; raise `_Disconnected` if the client left meanwhile."""
        if self.gone:
            if asyncio.iscoroutine(work):
                work.close()
            raise _Disconnected
        self._guarding = True
        try:
            return await work
        except asyncio.CancelledError:
            task = self._owner
            # Ours if the watcher fired and nobody else asked this task to stop.
            if self.gone and task is not None and task.uncancel() == 0:
                raise _Disconnected from None
            raise
        finally:
            self._guarding = False

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.exception()  # retrieved: a protocol error here ends the request anyway


class ASGIHandler(django_asgi.ASGIHandler):
    async def __call__(self, scope: _Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope: _Scope, receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(django_asgi.get_script_prefix(scope))
        watcher = _DisconnectWatcher(self, receive)
        response: HttpResponseBase | None = None
        try:
            async with ThreadSensitiveContext():
                response = await watcher.guard(self._respond(scope, body_file))
                if not response.streaming:
                    await self._send_and_close(response, send, watcher)
                    return
            # The request's worker thread is released here; only the body remains to be sent.
            attach = getattr(response, "attach_sender", None)
            if attach is not None:
                attach(send)
            await self._send_and_close(response, send, watcher)
        except _Disconnected:
            if response is None:
                await signals.request_finished.asend(sender=self.__class__)
        finally:
            await watcher.stop()
            body_file.close()

    async def _send_and_close(
        self, response: HttpResponseBase, send: Any, watcher: _DisconnectWatcher
    ) -> None:
        try:
            await watcher.guard(self.send_response(response, send))
        finally:
            await sync_to_async(response.close)()

    async def _respond(self, scope: _Scope, body_file: Any) -> HttpResponseBase:
        await signals.request_started.asend(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            return error_response
        response: HttpResponseBase = await self.run_get_response(request)
        return response


def get_asgi_application() -> ASGIHandler:
    """Like `django.core.asgi.get_asgi_application`, with streams that pin no thread."""
    django.setup(set_prefix=False)
    return ASGIHandler()
