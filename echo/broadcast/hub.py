"""This process's fan-out of broadcast events to its subscribers, in order, exactly once.

Events reach the hub from several places and in any order: `publish()` in this process (from the
event loop or another thread), Redis (other processes), and the storage poll. Each channel that
has subscribers keeps the last id it delivered; the hub delivers id `last + 1` at once, drops ids
it has delivered already, and holds a later id back until the gap fills, fetching the missing
events from storage if they do not arrive within `_GAP_WAIT`. Subscribers therefore see each
stored event once, in id order, and a subscriber's position is simply the channel's `last` at
the moment it joined (taken in the same loop step that registers it, so nothing falls between).

A subscriber that waits for its next event with nothing queued is not woken for it when its
stream can write at once (under Daphne): the hub calls the subscriber's `direct`, which writes
the event to its connection (`EventStreamResponse.write_now`). A fan-out to a thousand
subscribers is then one call per subscriber rather than a thousand task steps.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import metrics, notify, relay
from .conf import app_settings
from .poll import poll
from .published import Published
from .storage import current_id, read_stored

__all__ = ["Counters", "Hub", "Overflow", "Pushed", "Subscription", "hub"]

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


class Overflow(Exception):
    """A subscriber fell `BROADCAST_BUFFER` events behind; `positions` say where the hub was."""

    def __init__(self, positions: dict[str, int | None]) -> None:
        super().__init__("subscriber buffer overflowed")
        self.positions = positions


@dataclass(eq=False)
class Subscription:
    channels: tuple[str, ...]
    limit: int
    positions: dict[str, int | None] = field(default_factory=dict)
    # Set by the subscriber: sends an item straight to its client, True when it did. Tried while
    # the subscriber waits in `get()` with nothing queued, so nothing older can be overtaken.
    direct: Callable[[Published], bool] | None = None
    _items: deque[Published] = field(default_factory=deque)
    _waiter: asyncio.Future[None] | None = None
    _overflow: dict[str, int | None] | None = None

    def push(self, item: Published) -> Pushed:
        """Hand `item` over: written at once, queued, or (buffer full) dropped with the buffer
        emptied, see `overflowed`."""
        waiter = self._waiter
        direct = self.direct
        if direct is not None and waiter is not None and not waiter.done() and not self._items:
            try:
                if self._overflow is None and direct(item):
                    return Pushed.DIRECT
            except Exception:
                # One subscriber's failure must not stop the fan-out: queue it the usual way.
                logger.exception("Direct delivery failed; queueing instead")
                self.direct = None
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


@dataclass(eq=False)
class _Channel:
    label: str  # what metrics count it under (its declaration)
    last: int | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    subscribers: set[Subscription] = field(default_factory=set)
    held: dict[int, Published] = field(default_factory=dict)
    gap_task: asyncio.Task[None] | None = None


def _forget_through(state: _Channel, last: int) -> None:
    """Drop held events the channel has delivered or skipped already (ids up to `last`)."""
    for number in [number for number in state.held if number <= last]:
        del state.held[number]


class Hub:
    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.counters = Counters()
        self.notified = False

    def reset(self) -> None:
        """Forget every channel and counter (tests); background tasks are cancelled."""
        for task in self._tasks:
            task.cancel()
        self._channels.clear()
        self._loop = None
        self.counters = Counters()
        self.notified = False

    # -- subscribers (event loop) -----------------------------------------------------------------

    async def subscribe(self, channels: Iterable[str]) -> Subscription:
        self._bind_loop()
        sub = Subscription(tuple(channels), app_settings.BROADCAST_BUFFER)
        states = []
        for name in sub.channels:
            state = self._channels.get(name)
            if state is None:
                state = self._channels[name] = _Channel(metrics.label(name))
                self._spawn(self._initialise(name, state))
            states.append(state)
        try:
            for state in states:
                await state.ready.wait()
        except BaseException:
            self._forget_if_idle(sub.channels)
            raise
        # From here to the end of this method nothing awaits: positions and registration agree.
        for name, state in zip(sub.channels, states, strict=True):
            sub.positions[name] = state.last
            state.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        for name in sub.channels:
            state = self._channels.get(name)
            if state is not None:
                state.subscribers.discard(sub)
        self._forget_if_idle(sub.channels)

    def subscriber_count(self) -> int:
        return sum(len(state.subscribers) for state in self._channels.values())

    # -- publishers (any thread) --------------------------------------------------------------------

    def deliver_threadsafe(self, item: Published) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # nobody in this process has subscribed
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.deliver(item)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(self.deliver, item)

    def deliver(self, item: Published) -> None:
        state = self._channels.get(item.channel)
        if state is None:
            return
        if item.id is None:
            self._fan_out(item.channel, state, item)
            return
        if state.last is not None and item.id <= state.last:
            return
        state.held[item.id] = item
        if state.last is not None:
            self._release(item.channel, state)

    # -- internals ------------------------------------------------------------------------------

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop  # read by publishers in other threads; one reference, set atomically
            self._start_background()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _initialise(self, name: str, state: _Channel) -> None:
        try:
            state.last = await current_id(name)
        except Exception:
            logger.exception("Could not read the current id of channel %s", name)
            state.last = None
        state.ready.set()
        if state.last is not None:
            _forget_through(state, state.last)
            self._release(name, state)

    def _release(self, name: str, state: _Channel) -> None:
        self._drain(name, state)
        if state.held and (state.gap_task is None or state.gap_task.done()):
            state.gap_task = asyncio.get_running_loop().create_task(self._fill_gap(name, state))

    def _drain(self, name: str, state: _Channel) -> None:
        assert state.last is not None
        while state.last + 1 in state.held:
            item = state.held.pop(state.last + 1)
            state.last += 1
            self._fan_out(name, state, item)

    async def _fill_gap(self, name: str, state: _Channel) -> None:
        await asyncio.sleep(_GAP_WAIT)  # most gaps are two publishers racing; give the other a moment
        while state.held and state.last is not None and self._channels.get(name) is state:
            # A batch at a time: a long gap is never read into memory whole.
            upto = min(min(state.held) - 1, state.last + _GAP_BATCH)
            if upto > state.last:
                metrics.catch_ups.inc(state.label)
                try:
                    missing = await read_stored(name, state.last, upto)
                except Exception:  # noqa: BLE001 - treated as missing, and said so below
                    logger.warning("Could not read events %d..%d of %s", state.last + 1, upto, name)
                    missing = []
                for item in missing:
                    assert item.id is not None
                    if item.id > state.last:
                        state.held.setdefault(item.id, item)
                # Deliveries may have filled the gap while storage was read: release first, and
                # skip only what is still missing of the range that was read.
                self._drain(name, state)
                if state.last < upto and state.last + 1 not in state.held:
                    logger.warning("Events %d..%d of %s are not in storage", state.last + 1, upto, name)
                    state.last = upto
                    _forget_through(state, upto)
            self._drain(name, state)

    def _fan_out(self, name: str, state: _Channel, item: Published) -> None:
        if not state.subscribers:
            return
        subscribers = list(state.subscribers)
        metrics.deliveries.inc(state.label, amount=len(subscribers))
        if item.at is not None:
            metrics.lag.observe(max(0.0, time.time() - item.at), state.label)
        counters = self.counters
        for sub in subscribers:
            pushed = sub.push(item)
            if pushed is Pushed.DIRECT:
                counters.direct += 1
            elif pushed is Pushed.QUEUED:
                counters.queued += 1
            else:
                counters.overflows += 1
                sub.overflowed(self._positions(sub.channels))

    def _positions(self, channels: tuple[str, ...]) -> dict[str, int | None]:
        return {name: self._channels[name].last if name in self._channels else None for name in channels}

    def _forget_if_idle(self, channels: Iterable[str]) -> None:
        for name in channels:
            state = self._channels.get(name)
            if state is not None and not state.subscribers and state.ready.is_set():
                if state.gap_task is not None:
                    state.gap_task.cancel()
                del self._channels[name]

    def _start_background(self) -> None:
        if app_settings.REDIS_URL:
            self._spawn(relay.listen(self.deliver))
        if notify.enabled():
            self._spawn(notify.listen(self))
        if app_settings.BROADCAST_POLL_INTERVAL:
            self._spawn(poll(self))

    # -- for the storage poll (`echo.broadcast.poll`) ---------------------------------------------

    def settled_positions(self) -> list[tuple[str, int]]:
        """Channels with subscribers whose order is settled (nothing held back), and their last id."""
        return [
            (name, state.last)
            for name, state in self._channels.items()
            if state.last is not None and state.subscribers and not state.held
        ]

    def skip_to(self, name: str, position: int) -> None:
        """Go on from `position` on `name` without delivering what came before it."""
        state = self._channels.get(name)
        if state is not None:
            state.last = position


hub = Hub()
