"""How long stored events stay: `RetainingModelStorage`, broadcast's default storage.

django-eventstream's `DjangoModelStorage` keeps every event for a day (a constant) and looks for
expired ones on every append, deleting them one row at a time. This subclass keeps instead what
the settings say, per channel: the newest `BROADCAST_KEEP_EVENTS` and those younger than
`BROADCAST_KEEP_SECONDS`. The count is enforced as events are stored (every tenth of the bound,
so a channel holds at most 10 % more than it), the age at most once a minute per process; both by
one bulk `DELETE`. `manage.py trim_events` does both for every channel, safe from cron. A
subscriber whose position was trimmed away is told so (`stream-reset`) and goes on from the
channel's current id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta

from django.utils import timezone

from .conf import app_settings
from .eventstream import ModelStorage, stored_events

__all__ = ["RetainingModelStorage", "trim_channel", "trim_expired"]

_AGE_EVERY = 60.0  # seconds between age trims in one process, as events are stored
_age_lock = threading.Lock()
_last_age_trim = 0.0


def trim_channel(channel: str, newest: int) -> int:
    """Delete `channel`'s events older than the newest `BROADCAST_KEEP_EVENTS` (of ids up to
    `newest`); the number deleted."""
    keep = app_settings.BROADCAST_KEEP_EVENTS
    if keep is None or newest <= keep:
        return 0
    deleted, _ = stored_events().filter(channel=channel, eid__lte=newest - keep).delete()
    return int(deleted)


def trim_expired() -> int:
    """Delete events older than `BROADCAST_KEEP_SECONDS`, in every channel; the number deleted."""
    seconds = app_settings.BROADCAST_KEEP_SECONDS
    if seconds is None:
        return 0
    deleted, _ = stored_events().filter(created__lt=timezone.now() - timedelta(seconds=seconds)).delete()
    return int(deleted)


def _age_trim_due() -> bool:
    global _last_age_trim
    now = time.monotonic()
    with _age_lock:
        if now - _last_age_trim < _AGE_EVERY:
            return False
        _last_age_trim = now
    return True


class RetainingModelStorage(ModelStorage):
    """django-eventstream's model storage with echo's retention (see the module)."""

    def stored(self, channel: str, ids: Sequence[int]) -> None:
        keep = app_settings.BROADCAST_KEEP_EVENTS
        if keep is None or not ids:
            return
        step = max(1, keep // 10)
        if any(event_id % step == 0 for event_id in ids):  # a tenth of the bound was passed
            trim_channel(channel, max(ids))

    def expire(self) -> None:
        # Called by the parent on every append; the age is trimmed here, now and then.
        if _age_trim_due():
            trim_expired()
