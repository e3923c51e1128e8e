"""Which way broadcast events travel in this process, said once at start-up.

- embedded: in-process delivery; other processes' events are found by polling storage.
- Redis (`ECHO["REDIS_URL"]`): every process hears every publish at once.
- PostgreSQL (`ECHO["BROADCAST_NOTIFY"]`, on by default there without Redis): the same through
  LISTEN/NOTIFY on the database events are stored in.
- Pushpin (`GRIP_URL`): Pushpin holds the subscribers' connections; Django publishes to it.
"""

from __future__ import annotations

import logging
from typing import Any

from . import notify
from .conf import app_settings, grip_url

__all__ = ["describe", "redis_problem", "report"]

logger = logging.getLogger("echo.broadcast")


def stored_in_models() -> bool:
    """Whether events are kept in django-eventstream's tables (its model storage, or echo's)."""
    from django.apps import apps

    from .eventstream import DjangoModelStorage
    from .storage import get_storage

    storage = get_storage()
    return isinstance(storage, DjangoModelStorage) and apps.is_installed("django_eventstream")


def describe() -> str:
    modes = []
    if app_settings.REDIS_URL:
        modes.append(f"Redis ({app_settings.REDIS_URL}) between processes")
    elif notify.enabled():
        modes.append(f"PostgreSQL LISTEN/NOTIFY (database {notify.storage_alias()!r}) between processes")
    if grip_url():
        modes.append(f"Pushpin (publishing to {grip_url()}) holding the connections")
    if not modes:
        poll = app_settings.BROADCAST_POLL_INTERVAL
        found = f"found by polling storage every {poll} s" if poll else "not found (the poll is off)"
        modes.append(f"embedded: one process, other processes' events {found}")
    return "; ".join(modes)


def redis_problem(timeout: float = 2.0) -> str | None:
    """Why `REDIS_URL` cannot be reached now, or None (also when no Redis is configured)."""
    if not app_settings.REDIS_URL:
        return None
    from .relay import MISSING_PACKAGE, redis_installed

    if not redis_installed():
        return MISSING_PACKAGE
    import redis

    client = redis.Redis.from_url(app_settings.REDIS_URL, socket_connect_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def report(**kwargs: Any) -> None:
    """`echo.sse.runtime.startup.application_ready` receiver: the mode, an error if events cannot be
    stored for want of `manage.py migrate`, and a warning if Redis is down."""
    logger.info("Broadcast mode: %s", describe())
    if stored_in_models():
        from echo.sse.glue.migrations import report_unapplied

        from .eventstream import counter_model, event_model

        report_unapplied(logger, "Broadcast events cannot be stored or read", event_model(), counter_model())
    problem = redis_problem()
    if problem is not None:
        logger.warning(
            "Redis at %s is unreachable (%s): events published in other processes reach this one "
            "only through the storage poll until it is back",
            app_settings.REDIS_URL,
            problem,
        )
