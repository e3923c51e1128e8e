"""A small ASGI `receive` queue whose messages can be watched without a task.

An ASGI server hands each connection's messages (request body, `http.disconnect`) to the
application through a queue; Daphne uses an `asyncio.Queue`, four empty deques per
connection. A long-lived stream never reads that queue again after the request body, yet it must
notice `http.disconnect`: with an `asyncio.Queue` that takes a task per stream, parked on
`receive()` for hours. `Inbox` is a FIFO of the same interface in a fraction of the memory, and
`watch()` calls back on each message as it is put, so the handler needs no such task
(`echo.sse.glue.disconnect`). `echo.server.Server` gives every Daphne connection one, and names it to
the application in the scope's `extensions` (`offer`, read back with `offered`), so the handler
is told which queue to watch rather than finding it behind `receive`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from typing import Any

from .protocols import WatchableInbox

__all__ = ["EXTENSION", "Inbox", "offer", "offered"]

Watcher = Callable[[Any], None]

# The ASGI scope extension a server names a connection's watchable receive queue under.
EXTENSION = "echo.inbox"


def offer(scope: MutableMapping[str, Any], inbox: WatchableInbox) -> None:
    """Tell the application that `inbox` is the queue its `receive` reads (a server adapter calls it)."""
    extensions = scope.get("extensions") or {}
    extensions[EXTENSION] = {"inbox": inbox}
    scope["extensions"] = extensions


def offered(scope: MutableMapping[str, Any]) -> WatchableInbox | None:
    """The watchable queue the server named in `scope`, if it named one."""
    extension = (scope.get("extensions") or {}).get(EXTENSION)
    inbox = extension.get("inbox") if isinstance(extension, dict) else None
    return inbox if isinstance(inbox, WatchableInbox) else None


class Inbox(WatchableInbox):
    """FIFO of ASGI messages: `put_nowait()`, `await get()`, and `watch()` for a callback."""

    __slots__ = ("_getters", "_items", "_watcher")

    def __init__(self) -> None:
        # Lists, created when first needed: most connections see one or two messages in all.
        self._items: list[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None
        self._watcher: Watcher | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, message: Any) -> None:
        if self._items is None:
            self._items = [message]
        else:
            self._items.append(message)
        self._wake_one()
        if self._watcher is not None:
            self._watcher(message)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                if getter in self._getters:
                    self._getters.remove(getter)
                elif self._items:
                    self._wake_one()  # it was woken for a message it will not take: pass it on
                raise
        return self._items.pop(0)

    def watch(self, watcher: Watcher | None) -> list[Any]:
        """Call `watcher(message)` for every message put from now on (None stops it).

        Returns the messages already waiting, which the watcher has not been called for.
        """
        self._watcher = watcher
        return list(self._items or ())

    def _wake_one(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                return
