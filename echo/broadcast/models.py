from __future__ import annotations

from django.db import models

__all__ = ["Publishing"]


class Publishing(models.Model):
    """No table: the holder of the `echo_broadcast.publish` permission (publishing over HTTP)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("publish", "Can publish to broadcast channels over HTTP")]

    def __str__(self) -> str:
        return "publishing"
