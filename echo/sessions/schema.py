"""Whether the database has this app's tables: said once at start-up, as an ERROR line.

A process serving on a database where `manage.py migrate` was not run answers streams all the
same (the recorder never holds a stream up), but records nothing; without this line the only
sign was the writer's error on the first stream.
"""

from __future__ import annotations

import logging
from typing import Any

from echo.sse.glue.migrations import report_unapplied as report
from echo.sse.glue.migrations import unapplied_migrations

__all__ = ["report_unapplied", "unapplied_migrations"]

logger = logging.getLogger("echo.sessions")


def report_unapplied(**kwargs: Any) -> None:
    """`echo.sse.runtime.startup.application_ready` receiver: an ERROR line when sessions cannot be
    recorded because their table is missing or behind."""
    from .models import StreamSession

    report(logger, "Stream sessions are not recorded", StreamSession)
