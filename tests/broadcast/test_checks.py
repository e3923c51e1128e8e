"""Broadcast's system checks, each by id (`echo.broadcast.checks`)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, run_checks
from django.test import override_settings

from echo.broadcast import checks
from echo.broadcast.storage import DEFAULT_STORAGE

GRIP = "django_grip.GripMiddleware"


def echo_ids(messages: Sequence[CheckMessage]) -> list[str]:
    return sorted(str(message.id) for message in messages if str(message.id).startswith("echo."))


def test_the_project_passes_every_broadcast_check() -> None:
    every = [checks.check_storage, checks.check_redis, checks.check_notify]
    every += [checks.check_urls, checks.check_grip]
    for check in every:
        assert check(None) == []


def test_storage_is_django_eventstreams_model_storage_by_default() -> None:
    assert not hasattr(settings, "EVENTSTREAM_STORAGE_CLASS")
    assert checks.check_storage(None) == []


def test_e004_when_django_eventstream_is_not_installed() -> None:
    apps = [app for app in settings.INSTALLED_APPS if app != "django_eventstream"]
    with override_settings(INSTALLED_APPS=apps):
        messages = checks.check_storage(None)
        assert [(type(m), m.id) for m in messages] == [(Error, "echo.E004")]
        assert "'django_eventstream'" in str(messages[0].hint)
        assert "echo.E004" in echo_ids(run_checks())


@pytest.mark.parametrize("off", [None, ""])
def test_w005_when_storage_is_turned_off(off: str | None) -> None:
    with override_settings(EVENTSTREAM_STORAGE_CLASS=off):
        messages = checks.check_storage(None)
        assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W005")]
        assert DEFAULT_STORAGE in str(messages[0].hint)
        assert echo_ids(run_checks()) == ["echo.W005"]


def test_no_e004_for_a_storage_of_the_sites_own() -> None:
    apps = [app for app in settings.INSTALLED_APPS if app != "django_eventstream"]
    with override_settings(INSTALLED_APPS=apps, EVENTSTREAM_STORAGE_CLASS="mysite.storage.Storage"):
        assert checks.check_storage(None) == []


def test_e005_when_redis_url_is_set_without_the_redis_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # The package is installed here; the check asks `redis_installed`, which a missing one fails.
    monkeypatch.setattr(checks, "redis_installed", lambda: False)
    with override_settings(ECHO={"REDIS_URL": "redis://127.0.0.1:1/0"}):
        messages = checks.check_redis(None)
        assert [(type(m), m.id) for m in messages] == [(Error, "echo.E005")]
        assert "pip install 'redis>=5' 'channels-redis>=4.2'" in messages[0].msg


def test_no_e005_with_the_redis_package() -> None:
    with override_settings(ECHO={"REDIS_URL": "redis://127.0.0.1:1/0"}):
        assert checks.check_redis(None) == []


def test_w006_when_no_url_routes_to_subscriptions() -> None:
    with override_settings(ROOT_URLCONF="tests.urls_without_echo"):
        messages = checks.check_urls(None)
        assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W006")]
        assert "include('echo.urls')" in str(messages[0].hint)
        assert echo_ids(run_checks()) == ["echo.W006"]


def test_w009_when_grip_url_is_set_without_the_middleware() -> None:
    with override_settings(GRIP_URL="http://127.0.0.1:5561", EVENTSTREAM_STORAGE_CLASS=DEFAULT_STORAGE):
        messages = checks.check_grip(None)
        assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W009")]
        assert GRIP in str(messages[0].hint)


def test_w010_when_the_grip_middleware_is_on_without_grip_url() -> None:
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, GRIP]):
        messages = checks.check_grip(None)
        assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W010")]
        assert "GRIP_URL" in str(messages[0].hint)
        assert echo_ids(run_checks()) == ["echo.W010"]


def test_w011_when_grip_url_is_set_without_the_storage_setting() -> None:
    with override_settings(GRIP_URL="http://127.0.0.1:5561", MIDDLEWARE=[GRIP, *settings.MIDDLEWARE]):
        messages = checks.check_grip(None)
        assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W011")]
        assert DEFAULT_STORAGE in str(messages[0].hint)


def test_pushpin_as_the_readme_sets_it_up_passes() -> None:
    with override_settings(
        GRIP_URL="http://127.0.0.1:5561",
        MIDDLEWARE=[GRIP, *settings.MIDDLEWARE],
        EVENTSTREAM_STORAGE_CLASS=DEFAULT_STORAGE,
    ):
        assert checks.check_grip(None) == []
        assert echo_ids(run_checks()) == []


def test_e007_when_notifications_are_asked_for_and_cannot_carry_events() -> None:
    with override_settings(EVENTSTREAM_STORAGE_CLASS=None, ECHO={"BROADCAST_NOTIFY": True}):
        messages = checks.check_notify(None)
        assert [(type(m), m.id) for m in messages] == [(Error, "echo.E007")]
        assert "not stored with django-eventstream's model storage" in messages[0].msg
        assert "echo.E007" in echo_ids(run_checks())


def test_w012_when_events_are_stored_in_sqlite_with_deferred_transactions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = settings.DATABASES["default"]
    if default["ENGINE"] == "django.db.backends.sqlite3":
        assert checks.check_sqlite(None) == []  # the project's own settings take the write lock at once
    options = {k: v for k, v in default.get("OPTIONS", {}).items() if k != "transaction_mode"}
    # What the check reads, not the connections' configuration (a test's database stays as it is).
    monkeypatch.setitem(
        settings.DATABASES, "default", {**default, "ENGINE": "django.db.backends.sqlite3", "OPTIONS": options}
    )
    messages = checks.check_sqlite(None)
    assert echo_ids(messages) == ["echo.W012"]
    assert '"transaction_mode": "IMMEDIATE"' in (messages[0].hint or "")
