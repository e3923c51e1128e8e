"""A user who may no longer sign in stops listening: when a user is deactivated (`is_active` set
False, in the admin or anywhere) or deleted, every recorded stream of that user ends, in every
process, through the terminate path the admin's action takes (`echo.sessions.bus`).

Once the change is committed: a save that rolls back ends nothing. A logout is not followed:
session rows do not record the session key, and the user's other browsers are still signed in.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from . import bus

__all__ = ["user_deleted", "user_saved"]


def _end_streams_of(user: Any, what: str) -> None:
    pk, name = user.pk, user.get_username()
    by = f"the {what} of user {name} (id {pk})"
    transaction.on_commit(lambda: bus.terminate_sessions([], users=[pk], by=by))


def user_saved(sender: Any, instance: Any, created: bool = False, raw: bool = False, **kwargs: Any) -> None:
    """`post_save` of the user model: a saved user who is not active has no stream left."""
    if created or raw or getattr(instance, "is_active", True):
        return
    _end_streams_of(instance, "deactivation")


def user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """`pre_delete` of the user model (the pk is gone after the delete)."""
    _end_streams_of(instance, "deletion")
