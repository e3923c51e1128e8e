"""The storage poll: finds events published by processes this one hears nothing from (no Redis).

Every `BROADCAST_POLL_INTERVAL` seconds, for each channel this process's hub serves, compare the
channel's current id in storage with the hub's last and hand the hub what it has not seen. While
PostgreSQL notifications carry events (`echo.broadcast.notify`), it looks only every
`_SAFETY_INTERVAL` seconds, for events stored without echo's `publish`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from django.db import DatabaseError

from . import metrics
from .conf import app_settings
from .published import Published
from .storage import EventDoesNotExist, current_id, stored_batches

__all__ = ["Polled", "catch_up", "poll"]

logger = logging.getLogger("echo.broadcast.poll")

_BATCH = 500
# Notifications say when echo's publish stores an event; django-eventstream's own `send_event`
# stores one silently, and this is how late such an event may reach another process.
_SAFETY_INTERVAL = 30.0


class Polled(Protocol):
    """What the poll needs of the hub (`echo.broadcast.hub.Hub`)."""

    @property
    def notified(self) -> bool:
        """True while PostgreSQL notifications reach this process."""
        ...

    def settled_positions(self) -> list[tuple[str, int]]: ...

    def skip_to(self, name: str, position: int) -> None: ...

    def deliver(self, item: Published) -> None: ...


async def poll(hub: Polled) -> None:
    """Poll until cancelled. The database going away (a restart, a failover) is one warning and
    one line when it answers again, not a traceback per channel per poll; what was published
    meanwhile is found by the first poll after."""
    unreachable = False
    loop = asyncio.get_running_loop()
    rested_since = loop.time()
    while (interval := app_settings.BROADCAST_POLL_INTERVAL) is not None:
        await asyncio.sleep(interval)
        if hub.notified and loop.time() - rested_since < _SAFETY_INTERVAL:
            continue
        rested_since = loop.time()
        try:
            for name, last in hub.settled_positions():
                await catch_up(hub, name, last)
        except DatabaseError as exc:
            if not unreachable:
                logger.warning("Could not poll storage (%s: %s); retrying", type(exc).__name__, exc)
            unreachable = True
            continue
        if unreachable:
            logger.info("Polling storage again")
        unreachable = False


async def catch_up(hub: Polled, name: str, last: int) -> None:
    """Hand the hub what `name` stored after `last`, a batch at a time."""
    current: int | None = None
    try:
        current = await current_id(name)
        if current is None or current <= last:
            return
        metrics.catch_ups.inc(metrics.label(name))
        # Each batch delivered before the next is read: what other processes published meanwhile
        # is never held in memory whole.
        async with contextlib.aclosing(stored_batches(name, last, current, _BATCH)) as batches:
            async for items in batches:
                for item in items:
                    hub.deliver(item)
    except EventDoesNotExist:
        # Our last event is gone from storage (trimmed): what followed it cannot be told apart
        # from what is new, so move on from the current position.
        logger.warning("Channel %s: event %s is no longer stored; skipping to %s", name, last, current)
        if current is not None:
            hub.skip_to(name, current)
    except DatabaseError:
        raise
    except Exception:
        logger.exception("Could not poll channel %s", name)
