"""The process-wide state of the toolkit: the live streams and their observers.

One `StreamRegistry` per process (`registry`): the live streams, the admission counts and the
observers, in one object a test can `reset()` (every other holder of process-wide state is
listed in `echo.sse.runtime.state`). Responses register themselves
when they start streaming; terminate and shutdown look them up here.
"""

from __future__ import annotations

import asyncio
import enum
import threading
import uuid
from collections.abc import Iterator

from ..wire.endings import EndReason
from .protocols import EndableStream, StreamObserver
from .stats import counter, gauge, top_labels
from .stream_info import StreamInfo

__all__ = [
    "Refusal",
    "StreamRegistry",
    "add_observer",
    "find",
    "live_streams",
    "observers",
    "registry",
    "remove_observer",
    "wait_until_idle",
]


class Refusal(enum.Enum):
    PROCESS = "process"  # this process serves `MAX_STREAMS` streams already
    CLIENT = "client"  # this client address holds `MAX_STREAMS_PER_CLIENT` already


# Stream names shown one by one in `echo_streams_open`; the rest are summed as `other` (a
# broadcast stream is named after its channels, which clients choose).
OPEN_NAMES_SHOWN = 50


class StreamRegistry:
    def __init__(self) -> None:
        self._observers: list[StreamObserver] = []
        self._live: dict[uuid.UUID, EndableStream] = {}
        # Waiters for "no stream left"; `unregister` may run in a worker thread (Django calls
        # `response.close()` through `sync_to_async`), so each waiter is woken on its own loop.
        self._idle_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        # Streams admitted (see `admit`) and not yet released, in all and by client address.
        self._admitted = 0
        self._by_client: dict[str, int] = {}
        self._lock = threading.Lock()
        # Events and bytes of the streams that have ended; the live ones' are in their infos.
        self._ended_events = 0
        self._ended_bytes = 0

    def reset(self) -> None:
        """Forget every stream and admission count (tests). Observers stay: they are configuration,
        added once by the apps that observe (`AppConfig.ready`), not state a request leaves."""
        self._live.clear()
        with self._lock:
            self._admitted = 0
            self._by_client.clear()

    # -- admission ------------------------------------------------------------------------------

    def admit(self, client: str | None, *, limit: int | None, per_client: int | None) -> Refusal | None:
        """Count one more stream from `client`, or say which limit it would pass (nothing counted).

        Counted from the moment a view returns the stream, not from its first byte, so a burst of
        requests cannot all pass the check before any of them starts.
        """
        key = client or ""
        with self._lock:
            if limit is not None and self._admitted >= limit:
                _refused.inc(Refusal.PROCESS.value)
                return Refusal.PROCESS
            held = self._by_client.get(key, 0)
            if per_client is not None and held >= per_client:
                _refused.inc(Refusal.CLIENT.value)
                return Refusal.CLIENT
            self._admitted += 1
            self._by_client[key] = held + 1
        return None

    def release(self, client: str | None) -> None:
        key = client or ""
        with self._lock:
            self._admitted -= 1
            held = self._by_client.get(key, 0) - 1
            if held > 0:
                self._by_client[key] = held
            else:
                self._by_client.pop(key, None)

    def admitted(self, client: str | None = None) -> int:
        """Streams admitted and not released: in all, or from `client`."""
        return self._admitted if client is None else self._by_client.get(client, 0)

    # -- observers ------------------------------------------------------------------------------

    def add_observer(self, observer: StreamObserver) -> None:
        if not isinstance(observer, StreamObserver):
            raise TypeError(
                f"an observer keeps echo.sse.runtime.protocols.StreamObserver's contract, not {observer!r}"
            )
        if observer not in self._observers:
            self._observers.append(observer)

    def remove_observer(self, observer: StreamObserver) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def observers(self) -> list[StreamObserver]:
        return list(self._observers)

    # -- live streams ---------------------------------------------------------------------------

    def live_streams(self) -> Iterator[EndableStream]:
        """The streams open in this process right now."""
        return iter(list(self._live.values()))

    def find(self, stream_id: uuid.UUID) -> EndableStream | None:
        return self._live.get(stream_id)

    def register(self, stream: EndableStream) -> None:
        self._live[stream.info.id] = stream
        _opened.inc()

    def count_end(self, info: StreamInfo) -> None:
        """Count a stream that has just ended (its reason set), on the event loop."""
        _ended.inc(info.end_reason.value if info.end_reason else "")
        self._ended_events += info.events_sent
        self._ended_bytes += info.bytes_sent

    def unregister(self, stream: EndableStream) -> None:
        self._live.pop(stream.info.id, None)
        if not self._live:
            for loop, idle in list(self._idle_waiters):
                if not loop.is_closed():
                    loop.call_soon_threadsafe(idle.set)

    async def wait_until_idle(self) -> None:
        """Return once no stream is live in this process."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        self._idle_waiters.append(waiter)
        try:
            if self._live:
                await waiter[1].wait()
        finally:
            self._idle_waiters.remove(waiter)


registry = StreamRegistry()


def _open_by_name() -> dict[tuple[str, ...], float]:
    return top_labels(((stream.info.name, 1) for stream in registry.live_streams()), OPEN_NAMES_SHOWN)


def _events() -> dict[tuple[str, ...], float]:
    live = sum(stream.info.events_sent for stream in registry.live_streams())
    return {(): registry._ended_events + live}


def _bytes() -> dict[tuple[str, ...], float]:
    live = sum(stream.info.bytes_sent for stream in registry.live_streams())
    return {(): registry._ended_bytes + live}


gauge("echo_streams_open", "Streams open in this process, by stream name.", ("stream",), _open_by_name)
_opened = counter("echo_streams_opened", "Streams started (connects).")
_ended = counter("echo_streams_ended", "Streams ended, by reason.", ("reason",))
_refused = counter(
    "echo_streams_refused", "Streams refused before they started, by the limit reached.", ("limit",)
)
for _reason in EndReason:
    _ended.seed(_reason.value)
for _refusal in Refusal:
    _refused.seed(_refusal.value)
counter("echo_stream_events_sent", "Events sent on streams.", live=_events)
counter("echo_stream_bytes_sent", "Bytes sent on streams.", live=_bytes)

add_observer = registry.add_observer
remove_observer = registry.remove_observer
observers = registry.observers
live_streams = registry.live_streams
find = registry.find
wait_until_idle = registry.wait_until_idle
