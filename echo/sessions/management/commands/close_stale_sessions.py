from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q
from django.utils import timezone

from echo.sessions.conf import app_settings
from echo.sessions.models import StreamSession

from ._duration import parse_duration


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Command(BaseCommand):
    help = (
        "Mark sessions whose serving process died as ended (reason server_shutdown). A session is "
        "stale when its process, on this host, no longer runs, or when it has not been seen for "
        "--silent-for. Safe to run from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--silent-for",
            type=parse_duration,
            default=None,
            help="Treat a live session as stale after this long without a progress write "
            "(default: 3 progress intervals, at least 60s).",
        )

    def handle(self, *args: Any, silent_for: timedelta | None, **options: Any) -> None:
        if silent_for is None:
            silent_for = timedelta(seconds=max(60.0, 3 * app_settings.SESSION_PROGRESS_INTERVAL))
        now = timezone.now()
        live = StreamSession.objects.filter(ended_at__isnull=True)
        host = socket.gethostname()
        dead_here: list[str] = []
        for server in live.order_by().values_list("server", flat=True).distinct():
            name, _, pid = server.rpartition(":")
            if name == host and pid.isdigit() and not _pid_alive(int(pid)):
                dead_here.append(server)
        stale = live.filter(Q(server__in=dead_here) | Q(last_seen_at__lt=now - silent_for))
        closed = stale.update(ended_at=now, end_reason=StreamSession.EndReason.SERVER_SHUTDOWN)
        self.stdout.write(
            f"Closed {closed} stale session(s) "
            f"({len(dead_here)} dead process(es) on this host; silent for over {silent_for})."
        )
