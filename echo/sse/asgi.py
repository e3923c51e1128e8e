"""An ASGI handler that serves long-lived streams without an OS thread each.

Django's `ASGIHandler` wraps each request in one `ThreadSensitiveContext`. The first sync piece of
the request (a `request_started` receiver, a sync middleware) starts a worker thread for that
context, and the thread lives until the context exits: after the response body is finished. For
an event stream that is one idle OS thread per open connection, for hours.

`ASGIHandler` here runs the same Django machinery (signals, middleware, the view, the response's
`close()`) but ends the request's thread-sensitive context as soon as the view has returned a
streaming response. The body is then streamed from the event loop alone; sync work a stream
still needs (Django's `response.close()` and its `request_finished` receivers, a
`sync_to_async` call inside the stream) runs on asgiref's shared executor. Non-streaming
responses are handled exactly as Django handles them.

Use it in `asgi.py` in place of `django.core.asgi.get_asgi_application()`.
"""

from __future__ import annotations

import asyncio
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


async def _unless_disconnected(work: Awaitable[T], disconnect: asyncio.Task[None]) -> T:
    """Run `work` until it finishes or the client goes away (then cancel it; raise `_Disconnected`)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task, disconnect}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if task.cancelled():
        raise _Disconnected
    return task.result()


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
        disconnect = asyncio.create_task(self._wait_for_disconnect(receive))
        response: HttpResponseBase | None = None
        try:
            async with ThreadSensitiveContext():
                response = await _unless_disconnected(self._respond(scope, body_file), disconnect)
                if not response.streaming:
                    await self._send_and_close(response, send, disconnect)
                    return
            # The request's worker thread is released here; only the body remains to be sent.
            await self._send_and_close(response, send, disconnect)
        except _Disconnected:
            if response is None:
                await signals.request_finished.asend(sender=self.__class__)
        finally:
            disconnect.cancel()
            await asyncio.wait({disconnect})
            if not disconnect.cancelled():
                disconnect.exception()  # retrieved; a protocol error here ends the request anyway
            body_file.close()

    async def _send_and_close(
        self, response: HttpResponseBase, send: Any, disconnect: asyncio.Task[None]
    ) -> None:
        try:
            await _unless_disconnected(self.send_response(response, send), disconnect)
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

    async def _wait_for_disconnect(self, receive: Any) -> None:
        try:
            await self.listen_for_disconnect(receive)
        except RequestAborted:
            return


def get_asgi_application() -> ASGIHandler:
    """Like `django.core.asgi.get_asgi_application`, with streams that pin no thread."""
    django.setup(set_prefix=False)
    return ASGIHandler()
