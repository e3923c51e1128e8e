from __future__ import annotations

from django.db import models
from django.utils import timezone

__all__ = ["RevokedTicket"]


class RevokedTicket(models.Model):
    """A ticket that opens nothing more: a stream it opened was terminated by an operator.

    Kept until the ticket would have expired anyway, then pruned as others are added.
    """

    id = models.CharField(primary_key=True, max_length=32)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"ticket {self.id}"
