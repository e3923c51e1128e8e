"""The control bus between processes: the channels layer carries "terminate these sessions".

Every process that serves recorded streams joins one channels group with a channel of its own,
through one listener task per event loop, started with the loop's first recorded stream. An
operator's request, handled by whichever process, sends one group message; each process ends the
sessions it is serving and ignores the others. The layer is the site's default channel layer
(`CHANNEL_LAYERS`) when it has one; otherwise, with `ECHO["REDIS_URL"]`, a `channels_redis` layer
of the bus's own; with neither, the sessions' database carries it (`echo.sessions.transports`:
PostgreSQL's NOTIFY, or for an SQLite file unix sockets beside it, which reach every process of
this machine using that file: the workers of `python -m echo.server --workers N`). Only a database
in memory has no layer: a terminate then reaches the one process that handles it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from echo.sse import ServerSentEvent
from echo.sse.conf import app_settings as sse_settings
from echo.sse.runtime.registry import registry
from echo.sse.wire.endings import EndReason

from .conf import app_settings
from .transports import database_layer

__all__ = [
    "GROUP",
    "aterminate_sessions",
    "control_layer",
    "ensure_listener",
    "terminate_sessions",
    "terminated_event",
]

logger = logging.getLogger("echo.bus")
session_logger = logging.getLogger("echo.sessions")

GROUP = "echo.sessions"
_TERMINATE = "echo.terminate"
# channels_redis forgets group members after a day; rejoining hourly keeps the membership fresh.
_REJOIN_EVERY = 3600.0
_RETRY_AFTER = 1.0
_LOGGED_IDS = 20  # session ids named in a terminate's log line; the rest are counted

_listener: dict[asyncio.AbstractEventLoop, tuple[asyncio.Task[None], asyncio.Event]] = {}
_waited: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
# How long a process's first recorded stream waits for the listener to join the group.
_JOIN_WAIT = 2.0


_own_layers: dict[str, Any] = {}


def control_layer() -> Any:
    """The channel layer terminate requests travel on, or None (this process only)."""
    layer = get_channel_layer()
    if layer is not None:
        return layer
    url = app_settings.REDIS_URL
    if not url:
        return _database_layer()
    if url not in _own_layers:
        try:
            from channels_redis.core import RedisChannelLayer
        except ImportError:
            # echo.E005 says so before start-up; here the bus falls back to this process alone.
            logger.error("Terminate requests reach this process only: channels_redis is not installed")
            _own_layers[url] = None
            return None

        # No socket timeout: a receive blocks on Redis for up to 5 s, and redis-py's default 5 s
        # timeout would turn every idle wait into an error.
        _own_layers[url] = RedisChannelLayer(hosts=[{"address": url, "socket_timeout": None}])
    return _own_layers[url]


def _database_layer() -> Any:
    from django.db import router

    from .models import StreamSession

    alias = router.db_for_write(StreamSession) or "default"
    key = f"database:{alias}"
    if key not in _own_layers:
        _own_layers[key] = database_layer(alias)
    return _own_layers[key]


def terminated_event() -> ServerSentEvent:
    event = EndReason.TERMINATED.final_event(sse_settings)
    assert event is not None  # its row has an event that carries the reason
    return event


def end_local(ids: Iterable[uuid.UUID | str], users: Iterable[int] = ()) -> int:
    """End the given sessions served by this process, and every recorded stream of `users` it
    serves; returns how many were found here."""
    found = [registry.find(uuid.UUID(str(raw))) for raw in ids]
    users = set(users)
    if users:
        # A recorded stream's user is set on its record as it opens (the recorder asks for it).
        found += [stream for stream in registry.live_streams() if stream.info.user_id in users]
    ended = 0
    for response in {id(stream): stream for stream in found if stream is not None}.values():
        response.end_stream(EndReason.TERMINATED, terminated_event())
        ended += 1
    return ended


async def aterminate_sessions(
    ids: Iterable[uuid.UUID | str], *, users: Iterable[int] = (), by: str = "an unnamed caller"
) -> bool:
    """Ask every process to end these sessions, and every recorded stream of these `users`
    (those it serves), with a `terminated` event; `by` says who asked, in the log line.

    False when the layer's backend (Redis) cannot be reached: the sessions this process serves
    end all the same, the others go on until they are asked again.
    """
    message: dict[str, Any] = {"type": _TERMINATE, "ids": [str(i) for i in ids]}
    user_ids = [int(u) for u in users]
    if user_ids:
        message["users"] = user_ids
    _log_request(by, message["ids"], user_ids)
    layer = control_layer()
    if layer is None:
        end_local(message["ids"], user_ids)
        return True
    try:
        await layer.group_send(GROUP, message)
    except Exception as exc:  # noqa: BLE001 - any backend error: this process still does its part
        ended = end_local(message["ids"], user_ids)
        logger.warning(
            "Could not ask the other processes to terminate %d session(s) (%s: %s); ended the %d served here",
            len(message["ids"]),
            type(exc).__name__,
            exc,
            ended,
        )
        return False
    return True


def terminate_sessions(
    ids: Iterable[uuid.UUID | str], *, users: Iterable[int] = (), by: str = "an unnamed caller"
) -> bool:
    return async_to_sync(aterminate_sessions)(list(ids), users=list(users), by=by)


def _log_request(by: str, ids: list[str], users: list[int]) -> None:
    # The one line a terminate leaves, in the process that asks (which may serve none of them).
    what = []
    if ids:
        shown = ", ".join(ids[:_LOGGED_IDS]) + (
            f" and {len(ids) - _LOGGED_IDS} more" if len(ids) > _LOGGED_IDS else ""
        )
        what.append(f"{len(ids)} session(s): {shown}")
    if users:
        what.append(f"every stream of user(s) {', '.join(map(str, users))}")
    session_logger.info("Terminate requested by %s: %s", by, "; ".join(what) or "nothing")


async def ensure_listener() -> None:
    """Start this process's listener on the running loop, once, and wait until it has joined.

    Waiting matters for the first stream only: its session row becomes visible to operators
    right after this, and a terminate sent before the process had joined would go unheard.
    """
    loop = asyncio.get_running_loop()
    entry = _listener.get(loop)
    if entry is None or entry[0].done():
        joined = asyncio.Event()
        entry = _listener[loop] = (loop.create_task(_listen(joined), name="echo-bus-listener"), joined)
    task, joined = entry
    if not joined.is_set() and loop not in _waited:
        _waited.add(loop)  # once: while the layer is unreachable, later streams do not wait
        waiter = asyncio.ensure_future(joined.wait())
        try:
            await asyncio.wait({task, waiter}, timeout=_JOIN_WAIT, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not joined.is_set():
            logger.warning("The session control listener has not joined %s yet", GROUP)


async def _listen(joined: asyncio.Event) -> None:
    layer: Any = control_layer()
    if layer is None:
        joined.set()
        return
    channel = await layer.new_channel("echo-bus.")
    await _join(layer, channel)
    joined.set()
    try:
        while True:
            try:
                async with asyncio.timeout(_REJOIN_EVERY):
                    message = await layer.receive(channel)
            except TimeoutError:
                await _join(layer, channel)
                continue
            except Exception as exc:  # noqa: BLE001 - said once, then retried
                # A broken connection to the layer's backend must not end the listener for good.
                logger.warning("The session control listener lost its layer (%s); retrying", exc)
                await asyncio.sleep(_RETRY_AFTER)
                await _join(layer, channel)
                continue
            if message.get("type") == _TERMINATE:
                ended = end_local(message.get("ids", []), message.get("users", []))
                logger.debug("Terminated %d session(s) served here", ended)
    finally:
        try:
            await asyncio.shield(layer.group_discard(GROUP, channel))
        except Exception:
            logger.debug("Could not leave %s", GROUP, exc_info=True)


async def _join(layer: Any, channel: str) -> None:
    """Join the group, retrying until the layer's backend (Redis) answers; one warning for it."""
    warned = False
    while True:
        try:
            await layer.group_add(GROUP, channel)
        except Exception as exc:  # noqa: BLE001 - any backend error: said once, then retried
            if not warned:
                logger.warning(
                    "The session control listener cannot join %s (%s: %s): terminate requests from "
                    "the admin will not reach this process until it can; retrying",
                    GROUP,
                    type(exc).__name__,
                    exc,
                )
                warned = True
            await asyncio.sleep(_RETRY_AFTER)
            continue
        if warned:
            logger.info("The session control listener joined %s", GROUP)
        return
