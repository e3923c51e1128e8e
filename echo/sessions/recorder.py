"""Recording every stream as a `StreamSession` row, without the stream ever waiting on the database.

The recorder is a `StreamObserver`: the response calls it on the event loop when a stream opens
and ends, and it only puts a snapshot on a queue. One writer thread per process drains that queue
in batches (one transaction per batch: inserts, then end updates) and, about every
`SESSION_PROGRESS_INTERVAL` seconds for each live stream, writes its counters if they moved or
else touches its `last_seen_at`, which is how `close_stale_sessions` tells a live row from one
whose process died. Progress goes a slice of the live streams at a time, so thousands of streams
never make one long burst of work in this thread. A stream's row is first written once the stream
is `_HOLD` seconds old (or at a `flush()`): one that ends sooner, as most short visits do, costs a
single insert of its whole row rather than an insert and an update.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from django.db import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    connections,
    transaction,
)
from django.http import HttpRequest
from django.utils import timezone

from echo.sse.glue.redact import redact_query
from echo.sse.runtime.stats import counter, gauge, histogram
from echo.sse.runtime.stream_info import StreamInfo

from .conf import app_settings
from .writer import insert_many, update_many

__all__ = ["SessionRecorder", "recorder"]

logger = logging.getLogger("echo.sessions")

_Op = tuple[Literal["open", "close"], StreamInfo] | tuple[Literal["flush", "stop"], threading.Event]
_BATCH = 500
# What a transaction costs (its commit, waking this thread, the GIL changing hands around
# SQLite's calls) outweighs its rows: under connect churn, batches gathered over a fifth of a
# second keep recording's cost small where short ones did not (docs/performance.md).
_LINGER = 0.2
_HOLD = 0.25
_PROGRESS_FIELDS = ("stream", "events_sent", "bytes_sent", "last_event_id", "last_seen_at")
# Live streams' progress is written a slice at a time, this many slices per progress interval.
_PROGRESS_SLICES = 20
# What the database says about one row's values (a constraint, a value its column cannot hold):
# that row is dropped and the rest of its batch written, not the batch lost for it.
_ROW_ERRORS = (DataError, IntegrityError)
# SQLite says a table or column is missing with the same exception as a locked database; that is
# no outage to wait out (`manage.py migrate` was not run).
_SCHEMA_MISSING = ("no such table", "no such column", "has no column named")


_batch_rows = histogram(
    "echo_sessions_batch_rows",
    "Rows (inserts and end updates) per transaction of the session writer.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
)
_write_seconds = histogram("echo_sessions_write_seconds", "Seconds per transaction of the session writer.")
_write_failures = counter(
    "echo_sessions_write_failures", "Session writes that failed (each retried attempt counts)."
)


def _schema_missing(exc: Exception) -> bool:
    if isinstance(exc, ProgrammingError):  # PostgreSQL: `relation "..." does not exist`
        return "does not exist" in str(exc)
    return isinstance(exc, OperationalError) and str(exc).startswith(_SCHEMA_MISSING)


def server_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SessionRecorder:
    """The `StreamObserver` that records sessions: it queues a snapshot of each stream that opens
    and ends, and starts the writer thread (`_run`) that writes them in batches."""

    def __init__(self) -> None:
        self._ops: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._live: dict[uuid.UUID, StreamInfo] = {}
        self._start_lock = threading.Lock()
        self._hurry = threading.Event()  # cuts the writer's linger short: someone waits on it
        self._behind = False  # the last batch was full: more is queued, nothing to wait for
        self._thread: threading.Thread | None = None
        self.server = server_id()
        self._progress = _Progress(self._live)
        self._rows = _Rows(self.server, self._progress)

    # -- called on the event loop ---------------------------------------------------------------

    async def stream_opened(self, info: StreamInfo, request: HttpRequest | None) -> None:
        if not app_settings.RECORD_SESSIONS:
            return
        if request is not None:
            # Django's AuthenticationMiddleware sets `auser`; without it the stream has no user.
            # EAFP: a runtime-checkable Protocol would walk its attributes on every connect.
            try:
                auser = request.auser
            except AttributeError:
                pass
            else:
                user = await auser()
                info.user_id = user.pk if user.is_authenticated else None
        from . import bus

        await bus.ensure_listener()  # before the row exists, so a terminate for it is heard
        self._live[info.id] = info
        self._start()
        self._ops.put(("open", dataclasses.replace(info)))

    def stream_closed(self, info: StreamInfo) -> None:
        if self._live.pop(info.id, None) is None:
            return  # not recorded (RECORD_SESSIONS was off when it opened)
        self._ops.put(("close", dataclasses.replace(info)))

    # -- anywhere --------------------------------------------------------------------------------

    def queued(self) -> int:
        """Opens and ends waiting for the writer."""
        return self._ops.qsize()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written; False if `timeout` ran out first."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._ops.put(("flush", done))
        self._hurry.set()
        return done.wait(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued, then end the writer thread (a later stream starts a new one)."""
        thread = self._thread
        if thread is None:
            return True
        self._ops.put(("stop", threading.Event()))  # after everything queued before it
        self._hurry.set()
        thread.join(timeout)
        stopped = not thread.is_alive()
        if stopped:
            with self._start_lock:
                self._thread = None
        return stopped

    # -- the writer thread -----------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="echo-session-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        tick = app_settings.SESSION_PROGRESS_INTERVAL / _PROGRESS_SLICES
        next_progress = time.monotonic() + tick
        # Opens not written yet, oldest first, with when each was queued.
        held: dict[uuid.UUID, tuple[float, StreamInfo]] = {}
        while True:
            wake = next_progress
            if held:
                wake = min(wake, next(iter(held.values()))[0] + _HOLD)
            batch = self._next_batch(max(0.0, wake - time.monotonic()))
            flushes = [op[1] for op in batch if op[0] in ("flush", "stop")]
            creates, ends = _sort_changes(batch, held, everything=bool(flushes))
            try:
                if creates or ends:
                    _batch_rows.observe(len(creates) + len(ends))
                    _retrying(self._rows.write, creates, ends)
                if time.monotonic() >= next_progress:
                    next_progress = time.monotonic() + tick
                    _retrying(self._progress.write)
            except Exception as exc:  # noqa: BLE001 - logged, with its traceback, by _dropped
                _dropped(exc, len(creates) + len(ends))
            finally:
                for done in flushes:
                    done.set()
            if any(op[0] == "stop" for op in batch):
                _reset_connection()
                return

    def _next_batch(self, timeout: float) -> list[_Op]:
        """The queued operations: waits up to `timeout` for the first, then lets more gather for
        `_LINGER`, so a burst of streams is written in a few transactions rather than one each.

        It sleeps through the linger rather than wait on the queue: a thread waiting on the queue
        is woken, and takes the GIL from the event loop, for every stream that opens or ends; a
        sleeping one once per batch. A `flush()` or `close()` wakes it at once, and a writer
        behind its queue takes the next batch without lingering.
        """
        try:
            batch = [self._ops.get(timeout=timeout)]
        except queue.Empty:
            return []
        if batch[0][0] in ("open", "close"):
            if not self._behind:
                self._hurry.wait(_LINGER)
                self._hurry.clear()
            try:
                while len(batch) < _BATCH and batch[-1][0] in ("open", "close"):
                    batch.append(self._ops.get_nowait())
            except queue.Empty:
                pass
        self._behind = len(batch) >= _BATCH
        return batch


def _dropped(exc: Exception, changes: int) -> None:
    if _schema_missing(exc):
        logger.error(
            "Could not record stream sessions; %d change(s) dropped: %s (run manage.py migrate)",
            changes,
            exc,
        )
    else:
        logger.exception("Could not record stream sessions; %d change(s) dropped", changes)
    _reset_connection()


def _sort_changes(
    batch: list[_Op], held: dict[uuid.UUID, tuple[float, StreamInfo]], *, everything: bool
) -> tuple[list[StreamInfo], list[StreamInfo]]:
    """The rows to insert and the ends to update now; opens younger than `_HOLD` wait in `held`
    (all are due when `everything`), and an end of a held open is inserted whole."""
    now = time.monotonic()
    creates: list[StreamInfo] = []
    ends: list[StreamInfo] = []
    for op in batch:
        if op[0] == "open":
            held[op[1].id] = (now, op[1])
        elif op[0] == "close":
            info = op[1]
            (creates if held.pop(info.id, None) is not None else ends).append(info)
    while held:
        stream_id, (queued, info) = next(iter(held.items()))
        if not everything and queued > now - _HOLD:
            break
        del held[stream_id]
        creates.append(info)
    return creates, ends


def _reset_connection() -> None:
    # The writer keeps its connection between batches (reconnecting costs more than a batch);
    # after an error, or when it stops, it lets the connection go.
    try:
        connections.close_all()
    except Exception:
        logger.exception("Could not close the session writer's database connection")


def _retrying(write: Callable[..., None], *args: Any) -> None:
    """`write(*args, again=...)`, again while the database cannot be reached (a restart, a
    failover, SQLite's lock held elsewhere), for up to `SESSION_WRITE_RETRY` seconds: the batch is
    kept, and written once the database is back. Each failed attempt lets the connection go (a
    connection the server dropped stays broken), and `again` tells the write it may find its own
    rows already there (the error came after the commit)."""
    deadline = time.monotonic() + app_settings.SESSION_WRITE_RETRY
    attempt = 0
    while True:
        attempt += 1
        try:
            began = time.perf_counter()
            write(*args, again=attempt > 1)
            _write_seconds.observe(time.perf_counter() - began)
        except (OperationalError, InterfaceError) as exc:
            _write_failures.inc()
            _reset_connection()
            if time.monotonic() >= deadline or _schema_missing(exc):
                raise
            if attempt == 1:
                logger.warning(
                    "Session write failed (%s: %s); retrying until the database answers",
                    type(exc).__name__,
                    exc,
                )
            time.sleep(min(0.05 * 2**attempt, 2.0))  # the writer's own backoff, off the event loop
            continue
        if attempt > 1:
            logger.info("Session write succeeded after %d attempts", attempt)
        return


class _Progress:
    """The live streams' progress, ticked a slice at a time by the writer thread: what each row
    holds now (`written`), so that only counters that moved are written."""

    def __init__(self, live: dict[uuid.UUID, StreamInfo]) -> None:
        self._live = live  # the recorder's: streams open now
        self._written: dict[uuid.UUID, tuple[int, int, str]] = {}

    def inserted(self, info: StreamInfo) -> None:
        self._written[info.id] = (info.events_sent, info.bytes_sent, info.name)

    def forget(self, stream_id: uuid.UUID) -> None:
        self._written.pop(stream_id, None)

    def write(self, *, again: bool = False) -> None:
        """Progress of the next slice of live streams, in turn: each is visited about once per
        `SESSION_PROGRESS_INTERVAL`, and the work is spread over the interval instead of one burst
        over every stream (a long burst in this thread would hold up the event loop)."""
        from .models import StreamSession

        count = math.ceil(len(self._written) / _PROGRESS_SLICES)
        if not count:
            return
        now = timezone.now()
        turn = list(itertools.islice(self._written.items(), count))
        moved, now_written, still = self._sort(turn, now)
        with transaction.atomic():
            if moved:
                update_many(list(_PROGRESS_FIELDS), moved, only_live=True)
            live = StreamSession.objects.filter(ended_at__isnull=True)
            for start in range(0, len(still), _BATCH):
                live.filter(pk__in=still[start : start + _BATCH]).update(last_seen_at=now)
        # To the back of the line, with what is now in the row.
        for stream_id, _ in turn:
            if stream_id in self._written:
                written = self._written.pop(stream_id)
                self._written[stream_id] = now_written.get(stream_id, written)

    def _sort(
        self, turn: list[tuple[uuid.UUID, tuple[int, int, str]]], now: Any
    ) -> tuple[list[tuple[list[Any], uuid.UUID]], dict[uuid.UUID, tuple[int, int, str]], list[uuid.UUID]]:
        """Of this turn's streams: the rows whose counters moved (and what they now hold), and
        the ids of those still where they were (only seen)."""
        moved: list[tuple[list[Any], uuid.UUID]] = []
        now_written: dict[uuid.UUID, tuple[int, int, str]] = {}
        still: list[uuid.UUID] = []
        for stream_id, written in turn:
            info = self._live.get(stream_id)
            if info is None:
                continue  # ended: its end is queued
            current = (info.events_sent, info.bytes_sent, info.name)
            if current != written:
                values = [info.name[:200], info.events_sent, info.bytes_sent, info.last_event_id[:200], now]
                moved.append((values, stream_id))
                now_written[stream_id] = current
            else:
                still.append(stream_id)
        return moved, now_written, still


class _Rows:
    """Opens and ends written as rows, a batch per transaction, a refused row dropped alone."""

    def __init__(self, server: str, progress: _Progress) -> None:
        self._server = server
        self._progress = progress

    def write(self, creates: list[StreamInfo], ends: list[StreamInfo], *, again: bool = False) -> None:
        """The batch in one transaction; if the database refuses a row of it, the batch in
        halves, each in a transaction of its own, down to the row refused, which alone is dropped
        (logged with the database's reason). A few bad rows cost a few transactions each
        (log2 of the batch), never the honest rows beside them."""
        try:
            self._write_batch(creates, ends, again=again)
        except _ROW_ERRORS as exc:
            changes = [*((True, info) for info in creates), *((False, info) for info in ends)]
            if len(changes) == 1:
                self._drop(changes[0][1], exc)
                return
            half = len(changes) // 2
            for part in (changes[:half], changes[half:]):
                self.write(
                    [info for create, info in part if create],
                    [info for create, info in part if not create],
                    again=again,
                )

    def _drop(self, info: StreamInfo, exc: Exception) -> None:
        _write_failures.inc()
        self._progress.forget(info.id)  # no progress for a row that is not there
        logger.error(
            "Could not record stream session %s (%s, client %s): the database refused it (%s: %s); "
            "dropped it, the rest of its batch is kept",
            info.id,
            info.path or info.name or "-",
            info.client or "-",
            type(exc).__name__,
            str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        )

    def _write_batch(self, creates: list[StreamInfo], ends: list[StreamInfo], *, again: bool) -> None:
        with transaction.atomic():
            if creates:
                insert_many([_row(info, self._server) for info in creates], skip_existing=again)
            if ends:
                ended = [_ended_fields(info) for info in ends]
                update_many(
                    list(ended[0]),
                    [(list(row.values()), info.id) for row, info in zip(ended, ends, strict=True)],
                )
        for info in creates:
            if info.ended_at is None:
                self._progress.inserted(info)
        for info in [*creates, *ends]:
            if info.ended_at is not None:
                self._progress.forget(info.id)


def _row(info: StreamInfo, server: str) -> dict[str, Any]:
    return {
        "id": info.id,
        "path": info.path[:2000],
        "query": redact_query(info.query, app_settings.SECRET_QUERY_PARAMETERS),
        "client": info.client,
        "user_agent": info.user_agent,
        "user": info.user_id,
        "server": server,
        "started_at": info.started_at,
        **_ended_fields(info),
    }


def _ended_fields(info: StreamInfo) -> dict[str, Any]:
    return {
        "stream": info.name[:200],
        "ended_at": info.ended_at,
        "events_sent": info.events_sent,
        "bytes_sent": info.bytes_sent,
        "last_event_id": info.last_event_id[:200],
        "end_reason": info.end_reason.value if info.end_reason else "",
        "last_seen_at": info.ended_at or info.started_at,
        "error": info.error,
    }


recorder = SessionRecorder()

gauge(
    "echo_sessions_queue_depth",
    "Stream opens and ends waiting for the session writer.",
    (),
    lambda: {(): recorder.queued()},
)
