"""`DisconnectWatcher`: cancels a request's task when its client goes away.

It watches a receive queue that can be watched (`echo.sse.runtime.protocols.WatchableInbox`, what
`echo.server` hands out under Daphne and names in the scope, `echo.sse.runtime.inbox.offered`) with a
callback; any other server's `receive` takes a task parked on it for the life of the request, in
Django's `listen_for_disconnect` (`echo.sse.glue.django_internals`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from django.core.exceptions import RequestAborted

from ..runtime.protocols import WatchableInbox
from .django_internals import DjangoASGIHandler, listen_for_disconnect

__all__ = ["DisconnectWatcher", "Disconnected"]


class Disconnected(Exception):
    pass


class DisconnectWatcher:
    """Cancels the request's task when the client goes away, inside `async with watcher:`."""

    def __init__(self, handler: DjangoASGIHandler, receive: Any, inbox: WatchableInbox | None = None) -> None:
        """`inbox`: the queue `receive` reads, when the server offers one that can be watched."""
        self.gone = False
        self._guarding = False
        self._owner = asyncio.current_task()
        self._task: asyncio.Task[None] | None = None
        self._inbox = inbox
        if inbox is not None:
            for message in inbox.watch(self._message):
                self._message(message)
        else:
            self._task = asyncio.create_task(self._watch(handler, receive))

    async def _watch(self, handler: DjangoASGIHandler, receive: Any) -> None:
        with contextlib.suppress(RequestAborted):
            await listen_for_disconnect(handler, receive)
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
        """Guard the body of `async with watcher:`; it raises `Disconnected` if the client left.

        A context manager rather than a coroutine around the work: an open stream is awaited in
        the handler's own frame, not in one more coroutine frame kept for the stream's life.
        """
        if self.gone:
            raise Disconnected
        self._guarding = True

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        self._guarding = False
        task = self._owner
        if not isinstance(error, asyncio.CancelledError) or not self.gone or task is None:
            return
        if task.uncancel() == 0:  # ours: the client left and nobody else asked this task to stop
            raise Disconnected from None

    async def stop(self) -> None:
        if self._inbox is not None:
            self._inbox.watch(None)
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.exception()  # retrieved: a protocol error here ends the request anyway
