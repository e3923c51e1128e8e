"""Whether the database has a feature's tables, said once at start-up as an ERROR line.

A process serving on a database where `manage.py migrate` was not run starts all the same, and
its streams fail or record nothing later; each feature that keeps rows reports its own app's
missing migrations on `application_ready` through `report_unapplied`.
"""

from __future__ import annotations

import logging

from django.db import connections, router
from django.db.models import Model

from .django_internals import is_connected, unapplied_migrations

__all__ = ["report_unapplied", "unapplied_migrations"]


def report_unapplied(logger: logging.Logger, what: str, *models: type[Model]) -> None:
    """An ERROR line on `logger` (`what` is the consequence, "Stream sessions are not recorded")
    when the database of any of `models` lacks a migration of its app. Never raises: a report
    must not stop a server from starting."""
    missing: dict[str, list[str]] = {}
    for model in models:
        using = router.db_for_write(model)
        was_open = is_connected(using)
        try:
            labels = unapplied_migrations(model._meta.app_label, using)
            if not was_open:
                connections[using].close()  # this thread may never use the database again
        except Exception as exc:  # noqa: BLE001
            # The database away at start-up, say: whatever uses it says more when it tries.
            logger.warning(
                "Could not read which migrations database %r has (%s: %s)", using, type(exc).__name__, exc
            )
            return
        for label in labels:
            if label not in missing.setdefault(using, []):
                missing[using].append(label)
    for using, labels in missing.items():
        if labels:
            logger.error(
                "%s: database %r lacks migration(s) %s; run manage.py migrate", what, using, ", ".join(labels)
            )
