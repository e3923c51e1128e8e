"""`manage.py trim_events`: apply the retention settings to every channel's stored events.

Safe from cron and beside running servers: each channel's bound is one `DELETE`, run again it
deletes nothing more. Stored events are trimmed as they are stored too; this catches channels
nobody publishes to any more, and events stored by another storage path.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Max

from echo.broadcast.eventstream import stored_events
from echo.broadcast.retention import trim_channel, trim_expired


class Command(BaseCommand):
    help = (
        "Delete stored broadcast events beyond ECHO['BROADCAST_KEEP_EVENTS'] per channel and older than "
        "ECHO['BROADCAST_KEEP_SECONDS']."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        by_count = 0
        newest = stored_events().values("channel").annotate(newest=Max("eid")).order_by()
        for row in newest.iterator():
            by_count += trim_channel(row["channel"], row["newest"])
        by_age = trim_expired()
        self.stdout.write(
            f"Deleted {by_count} event(s) over the count bound and {by_age} past the age bound."
        )
