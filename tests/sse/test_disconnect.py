"""`echo.sse.glue.disconnect.DisconnectWatcher`: a watchable receive queue the server names (in the
scope, `echo.sse.runtime.inbox.offer`) is watched without a task, any other `receive` with one task, and
either way the guarded work ends when the client leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler

from echo.sse.glue.disconnect import Disconnected, DisconnectWatcher
from echo.sse.runtime.inbox import offer, offered
from echo.sse.runtime.protocols import WatchableInbox

from ..loops import run


class Watchable(WatchableInbox):
    """Not the toolkit's `Inbox`: any queue that keeps `WatchableInbox`'s contract (subclassing
    the ABC, as a server's queue does)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.watcher: Callable[[Any], None] | None = None

    def put_nowait(self, message: Any) -> None:
        self.queue.put_nowait(message)
        if self.watcher is not None:
            self.watcher(message)

    async def get(self) -> Any:
        return await self.queue.get()

    def watch(self, watcher: Callable[[Any], None] | None) -> list[Any]:
        self.watcher = watcher
        return []


async def _guarded_until_the_client_leaves(
    receive: Any, leave: Callable[[], None], inbox: WatchableInbox | None
) -> int:
    tasks_before = len(asyncio.all_tasks())
    watcher = DisconnectWatcher(ASGIHandler(), receive, inbox)
    extra_tasks = len(asyncio.all_tasks()) - tasks_before
    asyncio.get_running_loop().call_later(0.01, leave)
    with pytest.raises(Disconnected):
        async with watcher:
            await asyncio.Event().wait()  # the stream: it would wait forever
    await watcher.stop()
    assert watcher.gone
    return extra_tasks


@pytest.mark.parametrize("kind", ["watchable", "plain queue"])
def test_the_guarded_work_ends_when_the_client_leaves(kind: str) -> None:
    async def main() -> int:
        queue: Watchable | asyncio.Queue[Any] = Watchable() if kind == "watchable" else asyncio.Queue()
        scope: dict[str, Any] = {"type": "http"}
        if isinstance(queue, Watchable):
            offer(scope, queue)
        return await _guarded_until_the_client_leaves(
            queue.get, lambda: queue.put_nowait({"type": "http.disconnect"}), offered(scope)
        )

    assert run(main()) == (0 if kind == "watchable" else 1)


def test_a_client_gone_before_the_guard_raises_at_once() -> None:
    async def main() -> None:
        inbox = Watchable()
        watcher = DisconnectWatcher(ASGIHandler(), inbox.get, inbox)
        inbox.put_nowait({"type": "http.disconnect"})
        await asyncio.sleep(0)  # the cancel is scheduled on the loop, as under Daphne
        with pytest.raises(Disconnected):
            async with watcher:
                raise AssertionError("not reached")
        await watcher.stop()

    run(main())


def test_a_scope_names_only_a_queue_that_can_be_watched() -> None:
    assert offered({"type": "http"}) is None
    assert offered({"type": "http", "extensions": None}) is None
    assert offered({"type": "http", "extensions": {"echo.inbox": {"inbox": asyncio.Queue()}}}) is None
    scope: dict[str, Any] = {"type": "http", "extensions": {"http.response.trailers": {}}}
    inbox = Watchable()
    offer(scope, inbox)
    assert offered(scope) is inbox
    assert "http.response.trailers" in scope["extensions"]
