"""This process's fan-out of broadcast events to its subscribers, in order, exactly once.

Events reach the hub from several places and in any order: `publish()` in this process (from the
event loop or another thread), Redis (other processes), and the storage poll. Each channel that
has subscribers keeps the last id it delivered; the hub delivers id `last + 1` at once, drops ids
it has delivered already, and holds a later id back until the gap fills, fetching the missing
events from storage if they do not arrive within `_GAP_WAIT`. Subscribers therefore see each
stored event once, in id order, and a subscriber's position is simply the channel's `last` at
the moment it joined (taken in the same loop step that registers it, so nothing falls between).

A subscriber that waits for its next event with nothing queued is not woken for it when its
stream can write at once (under Daphne): the hub calls the sender the subscriber gave it
(`Subscription.send_directly`), which writes the event to its connection
(`EventStreamResponse.write_now`). A fan-out to a thousand subscribers is then one call per
subscriber rather than a thousand task steps.

A subscriber's buffer is bounded. One that falls too far behind is not dropped silently: it is
told where the hub was when its buffer overflowed, reads what it missed from storage, and goes
on; for events that are not stored, it ends its stream with an explicit error event instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import metrics, notify, relay
from .conf import app_settings
from .poll import poll
from .published import Published
from .storage import current_id, read_stored

__all__ = ["Counters", "Direct", "Hub", "Overflow", "Pushed", "Subscription", "hub"]

logger = logging.getLogger("echo.broadcast.hub")

_GAP_WAIT = 0.05
_GAP_BATCH = 500


class Pushed(enum.Enum):
    DIRECT = "direct"  # written to the subscriber's connection by the hub's own call
    QUEUED = "queued"  # in the subscriber's buffer; its task was woken
    OVERFLOW = "overflow"  # the buffer was full: the subscriber catches up from storage


@dataclass
class Counters:
    """What the hub has done since the process started (or `reset()`): for tests and metrics."""

    direct: int = 0
    queued: int = 0
    overflows: int = 0

    def count(self, pushed: Pushed) -> None:
        if pushed is Pushed.DIRECT:
            self.direct += 1
        elif pushed is Pushed.QUEUED:
            self.queued += 1
        else:
            self.overflows += 1


class Overflow(Exception):
    """A subscriber fell `BROADCAST_BUFFER` events behind; `positions` say where the hub was."""

    def __init__(self, positions: dict[str, int | None]) -> None:
        super().__init__("subscriber buffer overflowed")
        self.positions = positions


# Sends an item straight to a subscriber's client, True when it did.
Direct = Callable[[Published], bool]


@dataclass(eq=False)
class Subscription:
    channels: tuple[str, ...]
    limit: int
    positions: dict[str, int | None] = field(default_factory=dict)
    # Tried while the subscriber waits in `get()` with nothing queued, so nothing older can be
    # overtaken; set by the subscriber (`send_directly`).
    _direct: Direct | None = None
    _items: deque[Published] = field(default_factory=deque)
    _waiter: asyncio.Future[None] | None = None
    _overflow: dict[str, int | None] | None = None

    def send_directly(self, direct: Direct | None) -> None:
        """Let the hub hand items to `direct` while this subscriber waits (None: always queue)."""
        self._direct = direct

    def push(self, item: Published) -> Pushed:
        """Hand `item` over: written at once, queued, or (buffer full) dropped with the buffer
        emptied, see `overflowed`."""
        waiter = self._waiter
        direct = self._direct
        if direct is not None and waiter is not None and not waiter.done() and not self._items:
            try:
                if self._overflow is None and direct(item):
                    return Pushed.DIRECT
            except Exception:
                # One subscriber's failure must not stop the fan-out: queue it the usual way.
                logger.exception("Direct delivery failed; queueing instead")
                self._direct = None
        ok = len(self._items) < self.limit
        if ok:
            self._items.append(item)
        else:
            self._items.clear()
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return Pushed.QUEUED if ok else Pushed.OVERFLOW

    def overflowed(self, hub_positions: dict[str, int | None]) -> None:
        # Everything up to these positions is in storage; what arrives later is queued again.
        self._overflow = hub_positions

    async def get(self) -> Published:
        while True:
            if self._overflow is not None:
                positions, self._overflow = self._overflow, None
                raise Overflow(positions)
            if self._items:
                return self._items.popleft()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class _Channel:
    """One channel's order: the last id it delivered, and the later events it holds back until
    the gap before them fills (from another delivery, or read from storage)."""

    def __init__(self, name: str, fan_out: Callable[[_Channel, Published], None]) -> None:
        self.name = name
        self.label = metrics.label(name)  # what metrics count it under (its declaration)
        self.last: int | None = None
        self.ready = asyncio.Event()
        self.subscribers: set[Subscription] = set()
        self._held: dict[int, Published] = {}
        self._gap_task: asyncio.Task[None] | None = None
        self._open = True
        self._fan_out = fan_out

    def settled(self) -> bool:
        """Has it subscribers and a known position, and holds nothing back?"""
        return self.last is not None and bool(self.subscribers) and not self._held

    def join(self, sub: Subscription) -> None:
        self.subscribers.add(sub)

    def leave(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    def skip_to(self, position: int) -> None:
        self.last = position

    def idle(self) -> bool:
        return not self.subscribers and self.ready.is_set()

    def close(self) -> None:
        """Stop filling its gap: the hub no longer serves it."""
        self._open = False
        if self._gap_task is not None:
            self._gap_task.cancel()

    async def initialise(self) -> None:
        try:
            self.last = await current_id(self.name)
        except Exception:
            logger.exception("Could not read the current id of channel %s", self.name)
            self.last = None
        self.ready.set()
        if self.last is not None:
            self._forget_through(self.last)
            self._release()

    def receive(self, item: Published) -> None:
        if item.id is None:
            self._fan_out(self, item)
            return
        if self.last is not None and item.id <= self.last:
            return
        self._held[item.id] = item
        if self.last is not None:
            self._release()

    def _forget_through(self, last: int) -> None:
        """Drop held events the channel has delivered or skipped already (ids up to `last`)."""
        for number in [number for number in self._held if number <= last]:
            del self._held[number]

    def _release(self) -> None:
        self._drain()
        if self._held and (self._gap_task is None or self._gap_task.done()):
            self._gap_task = asyncio.get_running_loop().create_task(self._fill_gap())

    def _drain(self) -> None:
        assert self.last is not None
        while self.last + 1 in self._held:
            item = self._held.pop(self.last + 1)
            self.last += 1
            self._fan_out(self, item)

    async def _fill_gap(self) -> None:
        await asyncio.sleep(_GAP_WAIT)  # most gaps are two publishers racing; give the other a moment
        while self._held and self.last is not None and self._open:
            # A batch at a time: a long gap is never read into memory whole.
            upto = min(min(self._held) - 1, self.last + _GAP_BATCH)
            if upto > self.last:
                await self._read_gap(self.last, upto)
            self._drain()

    async def _read_gap(self, last: int, upto: int) -> None:
        metrics.catch_ups.inc(self.label)
        try:
            missing = await read_stored(self.name, last, upto)
        except Exception:  # noqa: BLE001 - treated as missing, and said so below
            logger.warning("Could not read events %d..%d of %s", last + 1, upto, self.name)
            missing = []
        for item in missing:
            assert item.id is not None
            if self.last is not None and item.id > self.last:
                self._held.setdefault(item.id, item)
        # Deliveries may have filled the gap while storage was read: release first, and skip
        # only what is still missing of the range that was read.
        self._drain()
        if self.last is not None and self.last < upto and self.last + 1 not in self._held:
            logger.warning("Events %d..%d of %s are not in storage", self.last + 1, upto, self.name)
            self.last = upto
            self._forget_through(upto)


class _Background:
    """The event loop the hub serves subscribers in, and the tasks it runs there."""

    def __init__(self, start: Callable[[], None]) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._start = start  # the listeners and the poll, started once per loop

    def bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop  # read by publishers in other threads; one reference, set atomically
            self._start()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def call(self, callback: Callable[[Published], None], item: Published) -> None:
        """`callback(item)` in the hub's loop, from any thread; nothing when no loop is bound."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # nobody in this process has subscribed
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            callback(item)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(callback, item)

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._loop = None


class Hub:
    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}
        self._background = _Background(self._start_background)
        self.counters = Counters()
        self._notified = False

    def reset(self) -> None:
        """Forget every channel and counter (tests); background tasks are cancelled."""
        self._background.cancel()
        for state in self._channels.values():
            state.close()
        self._channels.clear()
        self.counters = Counters()
        self._notified = False

    # -- subscribers (event loop) -----------------------------------------------------------------

    async def subscribe(self, channels: Iterable[str]) -> Subscription:
        self._background.bind()
        names = tuple(channels)
        states = []
        for name in names:
            state = self._channels.get(name)
            if state is None:
                state = self._channels[name] = _Channel(name, self._fan_out)
                self._background.spawn(state.initialise())
            states.append(state)
        try:
            for state in states:
                await state.ready.wait()
        except BaseException:
            self._forget_if_idle(names)
            raise
        # From here to the end of this method nothing awaits: positions and registration agree.
        positions = {name: state.last for name, state in zip(names, states, strict=True)}
        sub = Subscription(names, app_settings.BROADCAST_BUFFER, positions)
        for state in states:
            state.join(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        for name in sub.channels:
            state = self._channels.get(name)
            if state is not None:
                state.leave(sub)
        self._forget_if_idle(sub.channels)

    def subscriber_count(self) -> int:
        return sum(len(state.subscribers) for state in self._channels.values())

    # -- publishers (any thread) --------------------------------------------------------------------

    def deliver_threadsafe(self, item: Published) -> None:
        self._background.call(self.deliver, item)

    def deliver(self, item: Published) -> None:
        state = self._channels.get(item.channel)
        if state is not None:
            state.receive(item)

    # -- internals ------------------------------------------------------------------------------

    def _fan_out(self, state: _Channel, item: Published) -> None:
        if not state.subscribers:
            return
        subscribers = list(state.subscribers)
        metrics.deliveries.inc(state.label, amount=len(subscribers))
        if item.at is not None:
            metrics.lag.observe(max(0.0, time.time() - item.at), state.label)
        for sub in subscribers:
            pushed = sub.push(item)
            self.counters.count(pushed)
            if pushed is Pushed.OVERFLOW:
                sub.overflowed(self._positions(sub.channels))

    def _positions(self, channels: tuple[str, ...]) -> dict[str, int | None]:
        return {name: self._channels[name].last if name in self._channels else None for name in channels}

    def _forget_if_idle(self, channels: Iterable[str]) -> None:
        for name in channels:
            state = self._channels.get(name)
            if state is not None and state.idle():
                state.close()
                del self._channels[name]

    def _start_background(self) -> None:
        if app_settings.REDIS_URL:
            self._background.spawn(relay.listen(self.deliver))
        if notify.enabled():
            self._background.spawn(notify.listen(self))
        if app_settings.BROADCAST_POLL_INTERVAL:
            self._background.spawn(poll(self))

    # -- for the storage poll (`echo.broadcast.poll`) and the notification listener (`notify`) -----

    @property
    def notified(self) -> bool:
        """True while PostgreSQL notifications reach this process (the poll rests meanwhile)."""
        return self._notified

    def set_notified(self, notified: bool) -> None:
        self._notified = notified

    def settled_positions(self) -> list[tuple[str, int]]:
        """Channels with subscribers whose order is settled (nothing held back), and their last id."""
        return [
            (name, state.last)
            for name, state in self._channels.items()
            if state.last is not None and state.settled()
        ]

    def skip_to(self, name: str, position: int) -> None:
        """Go on from `position` on `name` without delivering what came before it."""
        state = self._channels.get(name)
        if state is not None:
            state.skip_to(position)


hub = Hub()
