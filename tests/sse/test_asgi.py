"""`echo.sse.glue.asgi` in one process: which requests are served in one thread hop (views marked
`stream_view`), and the kept threads that run those hops."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path

from echo.sse.glue.asgi import _is_stream_view
from echo.sse.runtime.threads import Worker as _Worker

from ..loops import run


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("not a stream")


urlpatterns = [path("sse2", plain)]  # this module is a urlconf for the last test


def scope(path: str, root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "path": path, "root_path": root_path}


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/sse2", "", True),
        ("/sse3", "", True),
        ("/", "", False),
        ("/no/such/page", "", False),
        ("/mounted/sse2", "/mounted", True),
        ("/mounted/sse2", "/mounted/", True),
        ("/sse2", "/mounted", True),  # a server that leaves the root path in `path` or not
    ],
)
def test_marked_echo_views_are_stream_views(path: str, root_path: str, expected: bool) -> None:
    assert _is_stream_view(scope(path, root_path)) is expected


def test_a_changed_urlconf_is_followed_not_a_remembered_answer() -> None:
    assert _is_stream_view(scope("/sse2")) is True
    with override_settings(ROOT_URLCONF=__name__):
        assert _is_stream_view(scope("/sse2")) is False
    assert _is_stream_view(scope("/sse2")) is True


# -- the kept threads request phases borrow ----------------------------------------------------


@pytest.fixture
def worker() -> Iterator[_Worker]:
    kept = _Worker("test-worker")
    yield kept
    kept.shutdown()


def test_a_hop_from_the_event_loop_returns_the_workers_own_asyncio_future(worker: _Worker) -> None:
    async def hop() -> tuple[bool, str]:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(worker, lambda: threading.current_thread().name)
        # asyncio passes an asyncio future through: no concurrent future is made for the hop.
        return isinstance(future, asyncio.Future), await future

    assert run(hop()) == (True, "test-worker")


def test_an_error_in_the_worker_reaches_the_awaiting_caller(worker: _Worker) -> None:
    def fail() -> None:
        raise LookupError("from the worker")

    async def hop() -> None:
        await asyncio.get_running_loop().run_in_executor(worker, fail)

    with pytest.raises(LookupError, match="from the worker"):
        run(hop())


def test_from_a_plain_thread_submit_returns_a_concurrent_future(worker: _Worker) -> None:
    future = worker.submit(lambda: threading.current_thread().name)
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(timeout=5) == "test-worker"
    failing = worker.submit(int, "not a number")
    with pytest.raises(ValueError, match="invalid literal"):
        failing.result(timeout=5)


def test_a_call_cancelled_while_it_waits_its_turn_never_runs(worker: _Worker) -> None:
    ran: list[str] = []
    release = threading.Event()

    async def hops() -> None:
        loop = asyncio.get_running_loop()
        busy = loop.run_in_executor(worker, release.wait, 5)
        waiting = loop.run_in_executor(worker, ran.append, "cancelled one")
        waiting.cancel()
        release.set()
        assert await busy is True
        await loop.run_in_executor(worker, ran.append, "next one")

    run(hops())
    assert ran == ["next one"]


def test_after_shutdown_the_thread_ends_and_nothing_more_is_taken() -> None:
    kept = _Worker("test-worker")
    kept.shutdown()
    assert not kept.thread.is_alive()
    with pytest.raises(RuntimeError, match="after shutdown"):
        kept.submit(print)


def test_thread_sensitive_code_in_a_request_context_stays_on_its_worker(worker: _Worker) -> None:
    """Django's rule, through asgiref: sync code of one request, even reached from async code it
    called through `async_to_sync`, runs on the request's one thread."""

    def name() -> str:
        return threading.current_thread().name

    async def inner() -> str:
        return await sync_to_async(name)()

    def outer() -> tuple[str, str]:
        return name(), async_to_sync(inner)()

    async def request() -> tuple[str, str]:
        async with ThreadSensitiveContext(executor=worker):
            return await sync_to_async(outer)()

    assert run(request()) == ("test-worker", "test-worker")
