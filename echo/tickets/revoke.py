"""A terminate of a stream a ticket opened revokes the ticket, in every process.

The operator's terminate (the admin, or a user deactivated) ends the stream wherever it runs;
this observer, in that process, sees it end as `terminated` and stores the ticket's id as
revoked, so that no process lets the ticket open a stream again (the middleware asks the database
each time a ticket is used). The row goes once the ticket would have expired.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connections
from django.utils import timezone

from echo.sse import EndReason, StreamInfo

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = ["META_KEY", "TicketWatch", "is_revoked", "revoke", "watch"]

logger = logging.getLogger("echo.tickets")

# Where the middleware leaves the accepted ticket's id and expiry for this observer.
META_KEY = "echo.tickets.ticket"


def revoke(ticket_id: str, expires_at: datetime) -> None:
    from .models import RevokedTicket

    RevokedTicket.objects.filter(expires_at__lt=timezone.now()).delete()
    RevokedTicket.objects.bulk_create(
        [RevokedTicket(id=ticket_id, expires_at=expires_at)], ignore_conflicts=True
    )


def is_revoked(ticket_id: str) -> bool:
    from .models import RevokedTicket

    return RevokedTicket.objects.filter(pk=ticket_id).exists()


def _revoke_in_thread(ticket_id: str, expires_at: datetime) -> None:
    try:
        revoke(ticket_id, expires_at)
    except Exception:
        logger.exception("Could not revoke ticket %s after its stream was terminated", ticket_id)
    finally:
        connections.close_all()  # this thread's own connections


class TicketWatch:
    """The streams a ticket opened, while they are open; a terminated one revokes its ticket."""

    def __init__(self) -> None:
        self._live: dict[uuid.UUID, tuple[str, datetime]] = {}
        self._writers: list[threading.Thread] = []

    async def stream_opened(self, info: StreamInfo, request: HttpRequest | None) -> None:
        ticket = request.META.get(META_KEY) if request is not None else None
        if ticket is not None:
            self._live[info.id] = ticket

    def stream_closed(self, info: StreamInfo) -> None:
        ticket = self._live.pop(info.id, None)
        if ticket is None or info.end_reason is not EndReason.TERMINATED:
            return
        # Off the event loop: the write waits for the database. Terminates are rare.
        writer = threading.Thread(target=_revoke_in_thread, args=ticket, name="echo-ticket-revoke")
        self._writers = [thread for thread in self._writers if thread.is_alive()]
        self._writers.append(writer)
        writer.start()

    def flush(self, timeout: float | None = None) -> bool:
        for writer in list(self._writers):
            writer.join(timeout)
        return not any(writer.is_alive() for writer in self._writers)


watch = TicketWatch()
