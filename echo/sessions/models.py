from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from echo.sse.wire.endings import EndReason as _EndReason

__all__ = ["StreamSession"]


class StreamSessionQuerySet(models.QuerySet["StreamSession"]):
    def live(self) -> StreamSessionQuerySet:
        return self.filter(ended_at__isnull=True)

    def ended(self) -> StreamSessionQuerySet:
        return self.filter(ended_at__isnull=False)


class StreamSession(models.Model):
    """One stream connection: who listened to what, for how long, and how it ended."""

    # The toolkit's table of end reasons (echo.sse.wire.endings): the field's choices and their
    # labels come from it, so a new reason needs only a migration here.
    EndReason = _EndReason

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stream = models.CharField(max_length=200, blank=True, db_index=True)
    path = models.CharField(max_length=2000, blank=True)
    query = models.TextField(blank=True)
    client = models.GenericIPAddressField(null=True, blank=True, unpack_ipv4=True)
    user_agent = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    server = models.CharField(max_length=200, blank=True, help_text="host:pid of the serving process")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    events_sent = models.PositiveBigIntegerField(default=0)
    bytes_sent = models.PositiveBigIntegerField(default=0)
    last_event_id = models.CharField(max_length=200, blank=True)
    end_reason = models.CharField(
        max_length=32,
        choices=[(reason.value, reason.label) for reason in _EndReason],
        blank=True,
        db_index=True,
    )
    error = models.TextField(blank=True)

    objects = StreamSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        permissions = [("terminate_streamsession", "Can terminate live stream sessions")]
        indexes = [models.Index(fields=["ended_at", "stream"], name="echo_session_live_stream")]

    def __str__(self) -> str:
        return f"{self.stream or 'stream'} {self.id}"

    @property
    def is_live(self) -> bool:
        return self.ended_at is None

    @property
    def duration(self) -> timedelta:
        return (self.ended_at or timezone.now()) - self.started_at
