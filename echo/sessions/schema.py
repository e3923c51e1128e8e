"""Whether the database has this app's tables: said once at start-up, as an ERROR line.

A process serving on a database where `manage.py migrate` was not run answers streams all the
same (the recorder never holds a stream up), but records nothing; without this line the only
sign was the writer's error on the first stream.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, router

__all__ = ["report_unapplied", "unapplied_migrations"]

logger = logging.getLogger("echo.sessions")


def unapplied_migrations(app_label: str, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations of `app_label` not applied to database `using`, as `app.name`, in order."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connections[using], ignore_no_migrations=True)
    graph = loader.graph
    missing: list[str] = []
    for leaf in graph.leaf_nodes(app_label):
        for key in graph.forwards_plan(leaf):
            label = f"{key[0]}.{key[1]}"
            if key[0] == app_label and key not in loader.applied_migrations and label not in missing:
                missing.append(label)
    return missing


def report_unapplied(**kwargs: Any) -> None:
    """`echo.sse.signals.application_ready` receiver: an ERROR line when sessions cannot be
    recorded because their table is missing or behind."""
    from .models import StreamSession

    using = router.db_for_write(StreamSession)
    connection = connections[using]
    was_open = connection.connection is not None
    try:
        missing = unapplied_migrations(StreamSession._meta.app_label, using)
        if not was_open:
            connection.close()  # this thread may never use the database again
    except Exception as exc:  # noqa: BLE001 - a report must not stop a server from starting
        # The database away at start-up, say: the writer says more when it tries.
        logger.warning(
            "Could not read which migrations database %r has (%s: %s)", using, type(exc).__name__, exc
        )
        return
    if missing:
        logger.error(
            "Stream sessions are not recorded: database %r lacks migration(s) %s; run manage.py migrate",
            using,
            ", ".join(missing),
        )
