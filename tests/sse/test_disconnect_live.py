"""A client that goes away: its stream is cleaned up at once and leaves nothing behind.

The counts read here are of servers no other test module talks to: the clean-up tests share one
Daphne of this module's own, and the leak test, which counts threads and descriptors, runs a
fresh one (`fresh_daphne`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import NamedTuple, TypeVar

import httpx
import pytest
from httpx_sse import aconnect_sse, connect_sse

from echo.sse.conf import SseSettings

from ..loops import run
from ..servers import Server, daphne, wait_for

pytestmark = pytest.mark.live

T = TypeVar("T")

SYNC_THREADS = SseSettings().SYNC_THREADS  # the default, which the servers here run with


@pytest.fixture(scope="module")
def own_daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with daphne(Path(tmp_path_factory.mktemp("disconnect"))) as server:
        yield server


class Resources(NamedTuple):
    threads: int  # besides the handler's kept pool
    fds: int
    pool: int  # the kept pool's threads: it grows with concurrent request phases, up to its size


def asyncio_tasks(probe: httpx.Client) -> int:
    tasks = probe.get("/_probe/stats").json()["tasks"]
    assert isinstance(tasks, int)
    return tasks


def resources(server: Server, probe: httpx.Client) -> Resources:
    # The pool's threads are named by the probe first: a probe request may add one, never later.
    names = probe.get("/_probe/stats").json()["thread_names"]
    pool = sum(name.startswith("echo-sync-") for name in names)
    return Resources(server.threads() - pool, server.fds(), pool)


def steady(read: Callable[[], T], *, polls: int = 3, timeout: float = 5.0, what: str = "a steady value") -> T:
    """The value `read` returns `polls` times in a row: the server has settled after a burst of work."""
    seen: list[T] = []

    def settled() -> bool:
        seen.append(read())
        return len(seen) >= polls and all(value == seen[-1] for value in seen[-polls:])

    wait_for(settled, timeout=timeout, what=what)
    return seen[-1]


def warm_up(client: httpx.Client) -> None:
    """One complete stream: starts what a server starts once, on its first stream, and keeps."""
    with connect_sse(client, "GET", "/sse3", params={"message": "x", "interval": 0, "limit": 2}) as source:
        assert [e.event for e in source.iter_sse()][-1] == "completed"


def finished(probe: httpx.Client, token: str) -> list[str]:
    names = probe.get("/_probe/finished", params={"token": token}).json()["finished"]
    assert isinstance(names, list)
    return names


def test_merged_sources_finish_within_a_second_of_the_client_leaving(own_daphne: Server) -> None:
    token = uuid.uuid4().hex
    with (
        httpx.Client(base_url=own_daphne.url, timeout=5) as client,
        httpx.Client(base_url=own_daphne.url, timeout=5) as probe,
    ):
        params = {"token": token, "interval": 0.05}
        with connect_sse(client, "GET", "/_probe/merged", params=params) as source:
            events = source.iter_sse()
            first_two = [next(events), next(events)]
            assert finished(probe, token) == []
        # Leaving the block mid-stream closes the connection.

        wait_for(
            lambda: finished(probe, token) == ["a", "b"],
            timeout=1.0,
            what="both merged sources to run their finally",
        )

    assert {event.event for event in first_two} <= {"a", "b"}


def test_sse3_tasks_are_gone_within_a_second_of_the_client_leaving(own_daphne: Server) -> None:
    with (
        httpx.Client(base_url=own_daphne.url, timeout=5) as client,
        httpx.Client(base_url=own_daphne.url, timeout=5) as probe,
    ):
        warm_up(client)
        baseline = steady(lambda: asyncio_tasks(probe), what="the task count to settle")
        params = {"message": "x", "interval": 0.05}
        with connect_sse(client, "GET", "/sse3", params=params) as source:
            events = source.iter_sse()
            first_two = [next(events), next(events)]
            streaming = asyncio_tasks(probe)

        wait_for(
            lambda: asyncio_tasks(probe) == baseline,
            timeout=1.0,
            what=f"the task count to return to {baseline} (it was {streaming} while streaming)",
        )

    assert streaming > baseline
    assert [(event.event, event.id) for event in first_two] == [("echo", "0"), ("echo", "1")]


async def connect_and_leave(client: httpx.AsyncClient, cycles: int, concurrency: int) -> None:
    """`cycles` times: open /sse3, read one event, close the connection."""
    gate = asyncio.Semaphore(concurrency)

    async def cycle() -> None:
        async with gate:
            params = {"message": "x", "interval": 0.01}
            async with (
                aconnect_sse(client, "GET", "/sse3", params=params) as source,
                aclosing(source.aiter_sse()) as events,
            ):
                event = await anext(events)
            assert (event.event, event.id) == ("echo", "0")

    async with asyncio.timeout(60):
        await asyncio.gather(*(cycle() for _ in range(cycles)))


def test_many_short_visits_leave_no_task_thread_or_descriptor_behind(fresh_daphne: Server) -> None:
    async def visits(cycles: int) -> None:
        async with httpx.AsyncClient(base_url=fresh_daphne.url, timeout=10) as client:
            await connect_and_leave(client, cycles, concurrency=10)

    # `probe` keeps one connection open throughout, so its descriptor is in every count.
    with httpx.Client(base_url=fresh_daphne.url, timeout=5) as probe:
        # The warm-up starts what the server keeps (the session writer, the bus listener) so that
        # the baseline holds only that. The handler's kept pool is counted apart: it grows with
        # the request phases that overlap, which a warm-up cannot pin down, up to its size.
        run(visits(20))
        tasks = steady(lambda: asyncio_tasks(probe), what="the task count to settle after the warm-up")
        held = steady(lambda: resources(fresh_daphne, probe), what="threads and fds to settle")

        run(visits(200))

        seen: list[object] = []

        def tasks_back() -> bool:
            seen.append(now := asyncio_tasks(probe))
            return now <= tasks

        def resources_back() -> bool:
            seen.append(now := resources(fresh_daphne, probe))
            return now.threads <= held.threads and now.fds <= held.fds and now.pool <= SYNC_THREADS

        try:
            wait_for(tasks_back, timeout=5.0, what=f"the task count to return to {tasks}")
            seen.clear()
            wait_for(resources_back, timeout=5.0, what=f"threads and fds to return to {held}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: first {seen[0]}, last {seen[-1]}") from exc


def test_a_visit_the_client_leaves_is_freed_without_the_cyclic_garbage_collector(
    fresh_daphne: Server,
) -> None:
    """What a connection made is freed as its last reference goes, not left in a reference cycle
    for the collector (a Django request makes a cycle of its own, through its middleware: not
    counted here). With the collector off, nothing of a finished stream may stay alive."""
    kinds = "EventStreamResponse,StreamInfo,_Disconnected,CancelledError,_DisconnectWatcher"

    def alive(probe: httpx.Client) -> dict[str, int]:
        counts = probe.get("/_probe/alive", params={"types": kinds}).json()
        assert isinstance(counts, dict)
        return counts

    async def visits(cycles: int) -> None:
        async with httpx.AsyncClient(base_url=fresh_daphne.url, timeout=10) as client:
            await connect_and_leave(client, cycles, concurrency=5)

    with httpx.Client(base_url=fresh_daphne.url, timeout=5) as probe:
        run(visits(5))  # what the first streams start and keep
        assert probe.get("/_probe/gc", params={"enabled": 0}).json() == {"enabled": False}
        try:
            before = steady(lambda: alive(probe), what="the live objects to settle")
            run(visits(20))
            seen: list[dict[str, int]] = []

            def back() -> bool:
                # At most as many: the session writer may still have held snapshots before.
                seen.append(now := alive(probe))
                return all(now[kind] <= before[kind] for kind in before)

            try:
                wait_for(back, timeout=5.0, what=f"the live objects to return to at most {before}")
            except AssertionError as exc:
                raise AssertionError(f"{exc}: last {seen[-1]}") from exc
        finally:
            probe.get("/_probe/gc", params={"enabled": 1})
