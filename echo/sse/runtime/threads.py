"""Kept threads for the sync parts of requests: `Worker`, `ExecutorPool`, `RequestPhase`.

asgiref's default `ThreadSensitiveContext` starts a thread per request and keeps it until the
response is finished: for an event stream, an idle OS thread per open connection for hours. Here
a request borrows one of a few kept threads for its request phase only (see `echo.sse.glue.asgi`).

The one module that relies on asgiref beyond its documented calls (asgiref 3.13.0, pinned in
requirements.txt; docs/upstream.md, tested by `tests/test_upstream_adapters.py`):
`ThreadSensitiveContext(executor=...)` (asgiref 3.10+) sends the context's thread-sensitive calls
to that executor and leaves it running when the context exits; `sync_to_async(...,
thread_sensitive=False, executor=...)` only hands its call to `loop.run_in_executor(executor,
...)`, so any `concurrent.futures.Executor` does; the context's `__aenter__` and `__aexit__` are
awaited directly (`RequestPhase.end()` ends it before the block does).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any, cast

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.http import HttpResponseBase

__all__ = ["ExecutorPool", "RequestPhase", "Worker"]


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class Worker(concurrent.futures.Executor):
    """One kept thread that runs what it is given, in turn: an executor of one worker.

    Submitted from a running event loop (as `loop.run_in_executor()` and so `sync_to_async` do),
    it returns an asyncio future that the thread settles with `call_soon_threadsafe`:
    `asyncio.wrap_future` passes an asyncio future through as it is, so a round trip makes no
    `concurrent.futures.Future` (a lock and a condition each) and no callbacks chaining it to an
    asyncio one, so a hop costs less CPU than through a `ThreadPoolExecutor` of one thread
    (docs/performance.md). From anywhere else `submit` returns a `concurrent.futures.Future`, as
    every executor does.
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


class ExecutorPool:
    """Kept single-thread executors, lent to requests for their sync parts.

    asgiref's default `ThreadSensitiveContext` starts a thread per request and a second one to
    join it at the end. A context given an executor uses it and leaves it running, so requests
    here borrow one of at most `size` kept threads: the least busy one. Two requests may share a
    thread past `size` concurrent request phases; thread-sensitive code still runs one call at a
    time, on one thread, as Django requires.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._executors: list[Worker] = []
        self._closers: list[Callable[[HttpResponseBase], Any]] = []
        self._leases: list[int] = []

    def lease(self, index: int | None = None) -> int:
        """Borrow the least busy thread (starting one while fewer than `size` run), or `index`."""
        if index is None:
            if len(self._executors) < self.size and 0 not in self._leases:
                worker = Worker(f"echo-sync-{len(self._executors)}")
                self._executors.append(worker)
                # asgiref's hint says ThreadPoolExecutor; any executor does (it only submits).
                closer = sync_to_async(_close_response, thread_sensitive=False, executor=cast(Any, worker))
                self._closers.append(closer)
                self._leases.append(0)
            index = min(range(len(self._leases)), key=self._leases.__getitem__)
        self._leases[index] += 1
        return index

    def executor(self, index: int) -> Worker:
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


class RequestPhase:
    """`async with`: a request's thread-sensitive context on a thread lent by the pool.

    `end()` ends it early and once (a streaming response needs no thread for its body); leaving
    the block ends it otherwise. `close(response)` closes the response on the same thread, as
    Django closes one in the request's context. Small on purpose: a stream keeps it for its
    whole life.
    """

    __slots__ = ("_context", "_index", "_pool")

    def __init__(self, pool: ExecutorPool) -> None:
        self._pool = pool
        self._index = -1
        self._context: ThreadSensitiveContext | None = None

    async def __aenter__(self) -> RequestPhase:
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


def _close_response(response: HttpResponseBase) -> None:
    # As Django closes a response: in the request's thread (`request_finished` receivers are sync).
    response.close()
