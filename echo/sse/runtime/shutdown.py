"""Graceful shutdown: on SIGTERM or SIGINT, end every open stream with a final event, then stop.

Daphne (like most ASGI servers) cancels every application instance when it stops, so clients see
a truncated body and no hint of when to come back. When the process starts serving
(`echo.sse.runtime.startup.application_ready`), a handler for both signals is installed that wraps the
server's own: it asks every live stream to send a final
`shutdown` event carrying a `retry` hint, waits (bounded by `ECHO["SHUTDOWN_GRACE"]`) for the
responses to finish, lets observers flush (the session recorder writes its last rows), and only
then hands the signal to the server's handler, which stops the process as before. A stream that
opens while the drain runs gets the final event at once.

Installed from the serving loop's thread once that loop runs, never at import: the server installs
its own handlers as it starts, and ours must wrap them, not be replaced by them. Where
`application_ready` is sent decides how (`on_application_ready`): on the loop's thread, at once; from
a worker thread of that loop (an ASGI lifespan start-up, the first request), on the loop; before the
loop runs (`echo.server` announces, then starts the reactor, which installs Twisted's handlers), at
the first request.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from asgiref.sync import async_to_sync
from django.core.signals import request_started

from ..conf import app_settings
from ..wire.encode import ServerSentEvent
from ..wire.endings import EndReason
from .registry import registry

__all__ = ["Shutdown", "final_event", "on_application_ready", "shutdown"]

logger = logging.getLogger("echo.sse.shutdown")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_Handler = Callable[[int, FrameType | None], Any] | int | None


def final_event() -> ServerSentEvent:
    """The `shutdown` event, its `retry` spread over `FINAL_RETRY_SPREAD` (one draw per stream)."""
    event = EndReason.SERVER_SHUTDOWN.final_event(app_settings)
    assert event is not None  # its row has an event that carries the reason
    return event


class Shutdown:
    """This process's shutdown state: whether the handlers are installed, whether a drain runs."""

    def __init__(self) -> None:
        self.installed = False
        self.in_progress = False
        self._task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        """Forget a drain (tests). The signal handlers stay: installed once, they are the process's."""
        self.in_progress = False
        self._task = None

    def install(self) -> None:
        """Wrap the current handlers; once per process, and only from the main thread with its loop
        running (later calls do nothing)."""
        if self.installed or threading.current_thread() is not threading.main_thread():
            return
        self.installed = True
        if not app_settings.GRACEFUL_SHUTDOWN:
            return
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN or previous is None:
                # Ignored by whoever started the process (`nohup`, `&` in a script: SIGINT), or a
                # handler Python cannot call: left as it is, as Twisted does. Taking it over would
                # end every stream and then leave the server running with nothing to stop it.
                continue
            signal.signal(signum, self._handler(loop, previous))

    def _handler(self, loop: asyncio.AbstractEventLoop, previous: _Handler) -> Callable[..., None]:
        def chain(signum: int, frame: FrameType | None) -> None:
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self.in_progress:
                # A second signal while draining: the server's own handler, at once.
                chain(signum, frame)
                return
            self.in_progress = True
            try:
                loop.call_soon_threadsafe(self._start_drain, loop, chain, signum, frame)
            except RuntimeError:  # the loop that served streams is gone: nothing left to drain
                chain(signum, frame)

        return on_signal

    def _start_drain(
        self, loop: asyncio.AbstractEventLoop, chain: Callable[..., None], signum: int, frame: Any
    ) -> None:
        self._task = loop.create_task(self._drain_then_chain(chain, signum, frame))

    async def _drain_then_chain(self, chain: Callable[..., None], signum: int, frame: Any) -> None:
        try:
            await self.drain()
        finally:
            chain(signum, frame)

    async def drain(self) -> None:
        """End every live stream with the final event and wait (bounded) until they have finished."""
        self.in_progress = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + app_settings.SHUTDOWN_GRACE
        streams = list(registry.live_streams())
        logger.info("Shutting down: ending %d open stream(s)", len(streams))
        for stream in streams:
            stream.end_stream(EndReason.SERVER_SHUTDOWN, final_event())
        # Streams leave the registry once the server has their last byte.
        try:
            async with asyncio.timeout_at(deadline):
                await registry.wait_until_idle()
        except TimeoutError:
            logger.warning("Shutdown grace ran out with streams still open")
        remaining = max(0.1, deadline - loop.time())
        for observer in registry.observers():
            await asyncio.to_thread(observer.flush, remaining)


shutdown = Shutdown()


def on_application_ready(**kwargs: Any) -> None:
    """`application_ready` receiver (connected by `echo.sse.apps.ready_toolkit`): the handlers
    installed once the serving loop runs, after the server's own."""
    if threading.current_thread() is not threading.main_thread():
        # A worker thread of the serving loop (`sync_to_async`): installed on that loop.
        _install_on_serving_loop()
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # Sent before the server runs its loop and installs its own handlers (`echo.server`):
        # wrapped at the first request, when both are there.
        request_started.connect(_install_at_first_request, dispatch_uid="echo.sse.runtime.shutdown")
        return
    shutdown.install()


def _install_at_first_request(**kwargs: Any) -> None:
    if threading.current_thread() is threading.main_thread():
        return  # a request served without the loop (Django's test client): keep waiting for one
    request_started.disconnect(dispatch_uid="echo.sse.runtime.shutdown")
    _install_on_serving_loop()


def _install_on_serving_loop() -> None:
    async def install() -> None:
        shutdown.install()

    # Called from a `sync_to_async` thread, asgiref runs this on the loop that called it.
    async_to_sync(install)()
