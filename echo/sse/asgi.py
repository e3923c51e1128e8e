"""An ASGI handler that serves long-lived streams without an OS thread, or extra tasks, each.

Django's `ASGIHandler` wraps each request in one `ThreadSensitiveContext`. The first sync piece of
the request (a `request_started` receiver, a sync middleware) starts a worker thread for that
context, and the thread lives until the context exits: after the response body is finished. For
an event stream that is one idle OS thread per open connection, for hours. Django also runs the
response in a task of its own beside a task that waits for the disconnect.

`ASGIHandler` here runs the same Django machinery (signals, middleware, the view, the response's
`close()`) but ends the request's thread-sensitive context as soon as the view has returned a
streaming response, so the body is streamed from the event loop alone (and the thread a request
borrows for its sync parts is a kept one, see `_ExecutorPool`); sync work a stream still
needs later runs elsewhere: `response.close()` and its `request_finished` receivers on the thread
the request phase used, as Django runs them, and a `sync_to_async` call in the stream on asgiref's
shared executor. The response is sent from the request's own task,
which is cancelled when the client goes away: a callback on the `Inbox` Daphne hands out once
`echo.sse.daphne` is installed notices it, or else a small watcher task. An `EventStreamResponse`
is also given the raw `send`, so keep-alive comments need no task per stream (see
`echo.sse.response`).
Non-streaming responses are handled as Django handles them.

Use it in `asgi.py` in place of `django.core.asgi.get_asgi_application()`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import queue
import threading
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping
from typing import IO, Any, TypeVar, cast

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import asgi as django_asgi
from django.core.handlers import base
from django.http import HttpResponseBase
from django.urls import Resolver404, URLResolver, get_resolver, set_script_prefix

from .inbox import Inbox

__all__ = ["ASGIHandler", "get_asgi_application", "stream_view"]

V = TypeVar("V", bound=Callable[..., Any])

_Scope = dict[str, Any]


class _Disconnected(Exception):
    pass


class _DisconnectWatcher:
    """Cancels the request's task when the client goes away, inside `async with watcher:`.

    It watches an `Inbox` (what Daphne hands out once `echo.sse.daphne` is installed) with a
    callback; any other server's `receive` takes a task parked on it for the life of the request.
    """

    def __init__(self, handler: django_asgi.ASGIHandler, receive: Any) -> None:
        self.gone = False
        self._guarding = False
        self._owner = asyncio.current_task()
        self._task: asyncio.Task[None] | None = None
        inbox = getattr(receive, "__self__", None)
        self._inbox = inbox if isinstance(inbox, Inbox) else None
        if self._inbox is not None:
            for message in self._inbox.watch(self._message):
                self._message(message)
        else:
            self._task = asyncio.create_task(self._watch(handler, receive))

    async def _watch(self, handler: django_asgi.ASGIHandler, receive: Any) -> None:
        with contextlib.suppress(RequestAborted):
            await handler.listen_for_disconnect(receive)
        self._left()

    def _message(self, message: Any) -> None:
        # Anything else after the body is left unread, as Django leaves it.
        if message.get("type") == "http.disconnect":
            self.gone = True
            # Daphne puts it from inside a `send()` of this very task (the one that ends the
            # response): cancel from the loop, once that call is over, not in the middle of it.
            asyncio.get_running_loop().call_soon(self._cancel_if_guarding)

    def _left(self) -> None:
        self.gone = True
        self._cancel_if_guarding()

    def _cancel_if_guarding(self) -> None:
        if self._guarding and self._owner is not None:
            self._owner.cancel()

    async def __aenter__(self) -> None:
        """Guard the body of `async with watcher:`; it raises `_Disconnected` if the client left.

        A context manager rather than a coroutine around the work: an open stream is awaited in
        the handler's own frame, not in one more coroutine frame kept for the stream's life.
        """
        if self.gone:
            raise _Disconnected
        self._guarding = True

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        self._guarding = False
        task = self._owner
        if not isinstance(error, asyncio.CancelledError) or not self.gone or task is None:
            return
        if task.uncancel() == 0:  # ours: the client left and nobody else asked this task to stop
            raise _Disconnected from None

    async def stop(self) -> None:
        if self._inbox is not None:
            self._inbox.watch(None)
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.exception()  # retrieved: a protocol error here ends the request anyway


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class _Worker(concurrent.futures.Executor):
    """One kept thread that runs what it is given, in turn: an executor of one worker.

    Submitted from a running event loop (as `loop.run_in_executor()` and so `sync_to_async` do),
    it returns an asyncio future that the thread settles with `call_soon_threadsafe`:
    `asyncio.wrap_future` passes an asyncio future through as it is, so a round trip makes no
    `concurrent.futures.Future` (a lock and a condition each) and no callbacks chaining it to an
    asyncio one: a hop with its request context costs ~52 us of CPU here against ~64 us through a
    `ThreadPoolExecutor` of one thread (this machine, best of 7 runs of 3,000 hops). From
    anywhere else `submit` returns a `concurrent.futures.Future`, as every executor does.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._shut_down = False
        # A daemon, as the kept threads of a server process idle until it exits.
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        future: Any = concurrent.futures.Future() if loop is None else loop.create_future()
        with self._lock:
            if self._shut_down:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._jobs.put((loop, future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if not self._shut_down:
                self._shut_down = True
                self._jobs.put(None)
        if wait:
            self.thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, args, kwargs = job
            del job
            if loop is None:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args, **kwargs))
                    except BaseException as error:  # noqa: BLE001  # the caller's to handle
                        future.set_exception(error)
            elif not future.cancelled():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as error:  # noqa: BLE001  # the caller's to handle
                    loop.call_soon_threadsafe(_settle, future, None, error)
                else:
                    loop.call_soon_threadsafe(_settle, future, result, None)
            # Nothing of a finished call is kept while the thread waits for the next.
            del loop, future, fn, args, kwargs


class _ExecutorPool:
    """Kept single-thread executors, lent to requests for their sync parts.

    asgiref's default `ThreadSensitiveContext` starts a thread per request and a second one to
    join it at the end. A context given an executor uses it and leaves it running, so requests
    here borrow one of at most `size` kept threads: the least busy one. Two requests may share a
    thread past `size` concurrent request phases; thread-sensitive code still runs one call at a
    time, on one thread, as Django requires.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._executors: list[_Worker] = []
        self._closers: list[Callable[[HttpResponseBase], Any]] = []
        self._leases: list[int] = []

    def lease(self, index: int | None = None) -> int:
        """Borrow the least busy thread (starting one while fewer than `size` run), or `index`."""
        if index is None:
            if len(self._executors) < self.size and 0 not in self._leases:
                worker = _Worker(f"echo-sync-{len(self._executors)}")
                self._executors.append(worker)
                # asgiref's hint says ThreadPoolExecutor; any executor does (it only submits).
                closer = sync_to_async(_close_response, thread_sensitive=False, executor=cast(Any, worker))
                self._closers.append(closer)
                self._leases.append(0)
            index = min(range(len(self._leases)), key=self._leases.__getitem__)
        self._leases[index] += 1
        return index

    def executor(self, index: int) -> _Worker:
        return self._executors[index]

    def release(self, index: int) -> None:
        self._leases[index] -= 1

    async def close(self, index: int, response: HttpResponseBase) -> None:
        """`response.close()` on thread `index`."""
        self.lease(index)
        try:
            await self._closers[index](response)
        finally:
            self.release(index)


class _RequestPhase:
    """`async with`: a request's thread-sensitive context on a thread lent by the pool.

    `end()` ends it early and once (a streaming response needs no thread for its body); leaving
    the block ends it otherwise. `close(response)` closes the response on the same thread, as
    Django closes one in the request's context. Small on purpose: a stream keeps it for its
    whole life.
    """

    __slots__ = ("_context", "_index", "_pool")

    def __init__(self, pool: _ExecutorPool) -> None:
        self._pool = pool
        self._index = -1
        self._context: ThreadSensitiveContext | None = None

    async def __aenter__(self) -> _RequestPhase:
        self._index = self._pool.lease()
        context = ThreadSensitiveContext(executor=self._pool.executor(self._index))
        try:
            await context.__aenter__()  # type: ignore[no-untyped-call]  # asgiref: unannotated
        except BaseException:
            self._pool.release(self._index)
            raise
        self._context = context
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.end()

    async def end(self) -> None:
        context, self._context = self._context, None
        if context is None:
            return
        try:
            await context.__aexit__(None, None, None)  # type: ignore[no-untyped-call]
        finally:
            self._pool.release(self._index)

    async def close(self, response: HttpResponseBase) -> None:
        """`response.close()` (and so `request_finished`) on the thread the request phase used.

        That thread's database connections are the ones `close_old_connections` must look at.
        The same call whether the request's context is still open (any response but a stream)
        or has ended: the thread is the one the context sends its sync calls to.
        """
        await self._pool.close(self._index, response)


def stream_view(view: V) -> V:
    """Mark a view as a stream view: `ASGIHandler` runs its request phase in one thread hop.

    Django runs each sync-capable middleware of an async request through its own
    `sync_to_async` call: a dozen trips between the event loop and a worker thread before the
    view runs. For a view marked here, the handler instead runs Django's sync handler chain
    (`request_started`, every middleware, `request_finished` on close) in one borrowed thread.
    A sync view runs right there; an async one is bridged to the event loop and back by Django,
    two more hops, so a view that awaits nothing is best written sync. Either should return its
    response promptly (a stream view does: the streaming happens afterwards, on the event loop).
    """
    view.echo_stream_view = True  # type: ignore[attr-defined]
    return view


class ASGIHandler(django_asgi.ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        from echo.conf import app_settings

        self._pool = _ExecutorPool(app_settings.SYNC_THREADS)
        self._sync_handler = base.BaseHandler()
        self._sync_handler.load_middleware(is_async=False)
        # Made once: building a `sync_to_async` wrapper costs a few microseconds every request.
        self._respond_sync = sync_to_async(self._respond_in_thread)

    async def __call__(self, scope: _Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file: IO[bytes] | None = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(django_asgi.get_script_prefix(scope))
        watcher = _DisconnectWatcher(self, receive)
        response: HttpResponseBase | None = None
        try:
            async with _RequestPhase(self._pool) as request_phase:
                try:
                    async with watcher:
                        response = await self._respond(scope, body_file)
                    if response.streaming:
                        # The request's worker thread is released here; only the body remains to
                        # be sent. (Any other response is sent and closed inside the phase, as
                        # Django does.)
                        await request_phase.end()
                        attach = getattr(response, "attach_sender", None)
                        if attach is not None:
                            attach(send)
                            # An event stream closes its request as it starts (the body with it,
                            # see `EventStreamResponse`): nothing here need keep the body for hours.
                            if body_file is not None:
                                body_file.close()
                                body_file = None
                    # Sent from this frame, not a helper's: a stream keeps it for hours.
                    async with watcher:
                        await self.send_response(response, send)
                except _Disconnected:
                    pass  # the client left: the request is finished as after a whole response
                except BaseException:
                    if response is not None:
                        await request_phase.close(response)
                    raise
                # Not from inside the `except`: `sync_to_async` hands the exception being handled
                # to the worker thread, which raises it again there, and the thread's frame in its
                # traceback makes a reference cycle of it and of every frame the client's leaving
                # went through: all of a connection's objects would be left to the cyclic garbage
                # collector (15 % of the CPU under connect churn).
                if response is None:
                    await signals.request_finished.asend(sender=self.__class__)
                else:
                    await request_phase.close(response)
        finally:
            await watcher.stop()
            if body_file is not None:
                body_file.close()

    # Django's `__call__` runs `handle()`; here they are one coroutine, one frame per open stream.
    handle = __call__

    async def send_response(self, response: HttpResponseBase, send: Any) -> None:
        if not response.streaming:
            await super().send_response(response, send)
            return
        # As Django sends a streaming response, but Django's encoded header list, held by its
        # frame until the last byte, is let go once the headers are out: a stream keeps its
        # response open for hours (1 KB each, across 10,000 streams).
        await self._send_start(response, send)
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

        await super().send_response(cast(HttpResponseBase, _Head(response)), start_only)

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
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        return response


class _Head:
    """What Django's `send_response` reads of a response to start it; an empty body after."""

    streaming = False
    content = b""

    def __init__(self, response: HttpResponseBase) -> None:
        self.status_code = response.status_code
        self.cookies = response.cookies
        self.items = response.items


def _close_response(response: HttpResponseBase) -> None:
    # As Django closes a response: in the request's thread (`request_finished` receivers are sync).
    response.close()


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
    return bool(getattr(match.func, "echo_stream_view", False))


def get_asgi_application() -> ASGIHandler:
    """Like `django.core.asgi.get_asgi_application`, with streams that pin no thread."""
    django.setup(set_prefix=False)
    _tune_process()
    return ASGIHandler()


def _tune_process() -> None:
    """Process-wide settings for serving many long-lived streams (`ECHO`, see `echo.conf`)."""
    from echo.conf import app_settings

    if app_settings.DAPHNE_DIRECT_WRITES:
        from . import daphne

        daphne.install()
    if app_settings.GC_THRESHOLD is not None:
        gc.set_threshold(*app_settings.GC_THRESHOLD)
    if app_settings.GC_FREEZE:
        # What is loaded now lives as long as the process: collections need not walk it.
        gc.collect()
        gc.freeze()
