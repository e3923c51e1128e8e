"""Graceful shutdown: on SIGTERM, end every open stream with a final event, then stop the server.

Daphne (like most ASGI servers) cancels every application instance when it stops, so clients see a
truncated body and no hint of when to come back. The first stream a process serves installs a
SIGTERM handler that wraps the server's own: it asks every live stream to send a final `shutdown`
event carrying a `retry` hint, waits (bounded by `ECHO["SHUTDOWN_GRACE"]`) for the responses to
finish, lets observers flush (the session recorder writes its last rows), and only then hands the
signal to the server's handler, which stops the process as before. A stream that opens while the
drain runs gets the final event at once.

Installed lazily, from the event loop's thread, rather than at import: the server installs its own
handlers when it starts, and ours must wrap them, not be replaced by them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
from types import FrameType
from typing import Any

from . import lifecycle
from .event import ServerSentEvent
from .lifecycle import EndReason

__all__ = ["drain", "final_event", "in_progress", "install"]

logger = logging.getLogger("echo.sse.shutdown")

_state: dict[str, Any] = {"installed": False, "in_progress": False}


def in_progress() -> bool:
    return bool(_state["in_progress"])


def final_event() -> ServerSentEvent:
    from echo.conf import app_settings

    return ServerSentEvent(
        event="shutdown",
        data=json.dumps({"reason": EndReason.SERVER_SHUTDOWN.value}),
        retry=app_settings.FINAL_RETRY,
    )


def install() -> None:
    """Wrap the current SIGTERM handler; once per process, and only from the main thread."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return
    from echo.conf import app_settings

    _state["installed"] = True
    if not app_settings.GRACEFUL_SHUTDOWN:
        return
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)

    def chain(signum: int, frame: FrameType | None) -> None:
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if _state["in_progress"]:
            return
        _state["in_progress"] = True
        try:
            loop.call_soon_threadsafe(_start_drain, loop, chain, signum, frame)
        except RuntimeError:  # the loop that served streams is gone: nothing left to drain
            chain(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def _start_drain(loop: asyncio.AbstractEventLoop, chain: Any, signum: int, frame: FrameType | None) -> None:
    task = loop.create_task(_drain_then_chain(chain, signum, frame))
    _state["task"] = task  # keep a reference until it is done


async def _drain_then_chain(chain: Any, signum: int, frame: FrameType | None) -> None:
    try:
        await drain()
    finally:
        chain(signum, frame)


async def drain() -> None:
    """End every live stream with the final event and wait (bounded) until they have finished."""
    from echo.conf import app_settings

    _state["in_progress"] = True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + app_settings.SHUTDOWN_GRACE
    streams = list(lifecycle.live_streams())
    logger.info("Shutting down: ending %d open stream(s)", len(streams))
    for response in streams:
        response.end_stream(EndReason.SERVER_SHUTDOWN, final_event())
    # Responses leave the registry once the server has their last byte.
    try:
        async with asyncio.timeout_at(deadline):
            await lifecycle.wait_until_idle()
    except TimeoutError:
        logger.warning("Shutdown grace ran out with streams still open")
    remaining = max(0.1, deadline - loop.time())
    for observer in lifecycle.observers():
        flush = getattr(observer, "flush", None)
        if flush is not None:
            await asyncio.to_thread(flush, remaining)
