"""Broadcast's system checks (see `echo.sse.glue.checks` for the toolkit's).

- `echo.E004`: events are stored with django-eventstream's model storage (the default) and
  `django_eventstream` is not in `INSTALLED_APPS`: publishing fails on a missing table.
- `echo.E005`: `ECHO["REDIS_URL"]` is set and the `redis` package is missing (the `[redis]` extra).
- `echo.E007`: `ECHO["BROADCAST_NOTIFY"]` is True and events are not stored where PostgreSQL
  notifications can carry them (another database or storage, or no psycopg 3).
- `echo.E009`: a channel pattern (`orders-{id}`) is declared without a `read` rule: its names are
  made from ids, so no one may read it until its declaration says who.
- `echo.W012`: events are stored in SQLite without `transaction_mode="IMMEDIATE"`: a second process
  publishing (`manage.py`, a worker) while the server writes may fail with "database is locked"
  instead of waiting, since a deferred transaction that upgrades its read lock is not retried.
- `echo.W005`: `EVENTSTREAM_STORAGE_CLASS` turns storage off: events get no id, and
  `Last-Event-ID` replays nothing.
- `echo.W006`: no URL routes to the subscription view: `/events/<channel>/` is a 404.
- `echo.W009`: `GRIP_URL` is set and `django_grip.GripMiddleware` is not in `MIDDLEWARE`: Django
  streams through Pushpin instead of handing it the connection.
- `echo.W010`: `GripMiddleware` is on and `GRIP_URL` is not set: nothing published reaches
  Pushpin's clients.
- `echo.W011`: `GRIP_URL` is set and `EVENTSTREAM_STORAGE_CLASS` is not: Pushpin's replay is
  django-eventstream's own, which reads storage from that setting alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.urls import NoReverseMatch, reverse

from .conf import app_settings, grip_url
from .relay import MISSING_PACKAGE, redis_installed
from .storage import DEFAULT_STORAGE

__all__ = [
    "check_channel_rules",
    "check_grip",
    "check_notify",
    "check_redis",
    "check_sqlite",
    "check_storage",
    "check_urls",
]

_GRIP_MIDDLEWARE = "django_grip.GripMiddleware"


def check_channel_rules(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    from .channels import declared_channels

    return [
        Error(
            f"The channel pattern {spec.pattern!r} does not say who may read it, so no one may.",
            hint=f"declare_channel({spec.pattern!r}, ..., read=...): read={spec.params[0]!r} for the user "
            "whose id it is, or a rule from echo.broadcast.rules (anyone, authenticated, permission(...)).",
            id="echo.E009",
        )
        for spec in declared_channels()
        if spec.params and spec.read is None
    ]


def check_storage(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    chosen = getattr(settings, "EVENTSTREAM_STORAGE_CLASS", DEFAULT_STORAGE)
    if not chosen:
        return [
            Warning(
                "EVENTSTREAM_STORAGE_CLASS turns event storage off: broadcast events get no id and "
                "Last-Event-ID replays nothing.",
                hint="Remove the setting (echo stores events with django-eventstream's model storage by "
                f"default) or set it to {DEFAULT_STORAGE!r}.",
                id="echo.W005",
            )
        ]
    if chosen == DEFAULT_STORAGE and not apps.is_installed("django_eventstream"):
        return [
            Error(
                "Broadcast events are stored with django-eventstream's model storage, and "
                "'django_eventstream' is not in INSTALLED_APPS.",
                hint="Add 'django_eventstream' to INSTALLED_APPS, then run manage.py migrate.",
                id="echo.E004",
            )
        ]
    return []


def check_redis(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if app_settings.REDIS_URL and not redis_installed():
        return [
            Error(
                f"ECHO['REDIS_URL'] is set, and {MISSING_PACKAGE}.",
                hint="Install the extra, or remove REDIS_URL to run one process with the storage poll.",
                id="echo.E005",
            )
        ]
    return []


def check_sqlite(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    from .mode import stored_in_models
    from .notify import storage_alias

    if not stored_in_models():
        return []
    alias = storage_alias()
    database = settings.DATABASES.get(alias, {})
    if database.get("ENGINE") != "django.db.backends.sqlite3":
        return []
    if str(database.get("OPTIONS", {}).get("transaction_mode", "")).upper() == "IMMEDIATE":
        return []
    return [
        Warning(
            f"Broadcast events are stored in SQLite (database {alias!r}) without "
            "transaction_mode 'IMMEDIATE': a publish from another process while this one writes may fail "
            "with 'database is locked' instead of waiting its turn.",
            hint=f'DATABASES["{alias}"]["OPTIONS"] = {{"transaction_mode": "IMMEDIATE", "timeout": 20}}',
            id="echo.W012",
        )
    ]


def check_notify(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if app_settings.BROADCAST_NOTIFY is not True:
        return []
    from .notify import problem

    reason = problem()
    if reason is None:
        return []
    return [
        Error(
            f"ECHO['BROADCAST_NOTIFY'] is True, and {reason}.",
            hint="Store events in PostgreSQL with psycopg 3 installed, or leave BROADCAST_NOTIFY unset "
            "(the storage poll or Redis carries events between processes).",
            id="echo.E007",
        )
    ]


def check_urls(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    try:
        reverse("echo_broadcast:events", kwargs={"channels": "check"})
    except NoReverseMatch:
        return [
            Warning(
                "No URL routes to broadcast subscriptions: /events/<channel>/ is a 404.",
                hint="Add path('', include('echo.urls')) to your ROOT_URLCONF's urlpatterns.",
                id="echo.W006",
            )
        ]
    return []


def check_grip(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    messages: list[CheckMessage] = []
    if grip_url() and _GRIP_MIDDLEWARE not in middleware:
        messages.append(
            Warning(
                "GRIP_URL is set and GripMiddleware is not in MIDDLEWARE: subscriptions are streamed "
                "by Django through Pushpin instead of being held by it.",
                hint=f"Add {_GRIP_MIDDLEWARE!r} to MIDDLEWARE (before CommonMiddleware).",
                id="echo.W009",
            )
        )
    if _GRIP_MIDDLEWARE in middleware and not grip_url():
        messages.append(
            Warning(
                "GripMiddleware is in MIDDLEWARE and GRIP_URL is not set: events published here never "
                "reach the clients Pushpin holds.",
                hint="Set GRIP_URL to Pushpin's publish endpoint (e.g. 'http://127.0.0.1:5561') in every "
                "process that serves or publishes, or remove the middleware.",
                id="echo.W010",
            )
        )
    if grip_url() and not getattr(settings, "EVENTSTREAM_STORAGE_CLASS", None):
        messages.append(
            Warning(
                "GRIP_URL is set and EVENTSTREAM_STORAGE_CLASS is not: clients Pushpin holds are not "
                "replayed what they missed (django-eventstream answers them, and reads only that setting).",
                hint=f"Set EVENTSTREAM_STORAGE_CLASS = {DEFAULT_STORAGE!r}.",
                id="echo.W011",
            )
        )
    return messages
