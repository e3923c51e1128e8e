"""The `echo` system checks, each by id: called directly, and through Django's check framework."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, run_checks
from django.test import override_settings

from echo.sse.glue import checks

from ..servers import manage, server_env

Check = Callable[..., list[CheckMessage]]

GZIP = "django.middleware.gzip.GZipMiddleware"
STREAM_MIDDLEWARE = "echo.sse.middleware.EventStreamMiddleware"


def echo_ids(messages: Sequence[CheckMessage]) -> list[str]:
    return sorted(str(message.id) for message in messages if str(message.id).startswith("echo."))


def run(check: Check, app_configs: Sequence[AppConfig] | None = None) -> list[CheckMessage]:
    messages: list[CheckMessage] = check(app_configs)
    return messages


def apps_without_daphne() -> list[str]:
    return [app for app in settings.INSTALLED_APPS if app not in ("daphne", "echo.server")]


def middleware_without(*names: str) -> list[str]:
    return [entry for entry in settings.MIDDLEWARE if entry not in names]


def test_project_settings_pass_every_echo_check() -> None:
    assert echo_ids(run_checks()) == []
    for check in (
        checks.check_daphne_first,
        checks.check_asgi_application,
        checks.check_middleware,
        checks.check_settings,
    ):
        assert run(check) == []


# echo.E001 / echo.W003: daphne first in INSTALLED_APPS.


def test_w003_when_daphne_is_missing() -> None:
    # A warning, not an error: a site served by uvicorn may never use runserver, and its
    # `migrate` must not stop on this.
    with override_settings(INSTALLED_APPS=apps_without_daphne()):
        messages = run(checks.check_daphne_first)
        assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W003")]
        assert "Neither 'echo.server' nor 'daphne'" in messages[0].msg
        assert "SILENCED_SYSTEM_CHECKS" in str(messages[0].hint)
        assert echo_ids(run_checks()) == ["echo.W003"]


def test_w003_can_be_silenced_by_a_site_served_by_uvicorn() -> None:
    with override_settings(INSTALLED_APPS=apps_without_daphne(), SILENCED_SYSTEM_CHECKS=["echo.W003"]):
        assert [m for m in run_checks() if not m.is_silenced() and str(m.id).startswith("echo.")] == []


def test_e001_when_daphne_is_not_first() -> None:
    with override_settings(INSTALLED_APPS=[*apps_without_daphne(), "daphne"]):
        messages = run(checks.check_daphne_first)
        assert [(type(m), m.id) for m in messages] == [(Error, "echo.E001")]
        assert "not first in" in messages[0].msg
        # One plain sentence of what to do, naming the app it must come before.
        assert str(messages[0].hint).startswith(
            "Put 'echo.server' (or 'daphne') first in INSTALLED_APPS, before 'django.contrib.staticfiles'."
        )
        assert echo_ids(run_checks()) == ["echo.E001"]


@pytest.mark.parametrize("daphne", ["daphne", "daphne.apps.DaphneConfig"])
def test_no_e001_when_daphne_is_first(daphne: str) -> None:
    with override_settings(INSTALLED_APPS=[daphne, *apps_without_daphne()]):
        assert run(checks.check_daphne_first) == []
        assert "echo.E001" not in echo_ids(run_checks())


# echo.E003 / echo.W004: the ASGI application.


def test_e003_when_daphne_runserver_has_no_asgi_application() -> None:
    with override_settings():
        del settings.ASGI_APPLICATION
        messages = run(checks.check_asgi_application)
        assert [(type(m), m.id) for m in messages] == [(Error, "echo.E003")]
        assert "get_asgi_application" in str(messages[0].hint)
        assert echo_ids(run_checks()) == ["echo.E003"]


def test_no_e003_without_daphne() -> None:
    with override_settings(INSTALLED_APPS=apps_without_daphne()):
        del settings.ASGI_APPLICATION
        assert run(checks.check_asgi_application) == []


@pytest.mark.parametrize(
    "application",
    [
        "tests.stock_asgi.application",  # Django's own get_asgi_application()
        "tests.asgi_routers.stock_router",  # the same inside channels' ProtocolTypeRouter
    ],
)
def test_w004_when_the_asgi_application_is_djangos_stock_handler(application: str) -> None:
    with override_settings(ASGI_APPLICATION=application):
        messages = run(checks.check_asgi_application)
        assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W004")]
        assert application in messages[0].msg
        assert "echo.sse.asgi.get_asgi_application()" in str(messages[0].hint)
        assert echo_ids(run_checks()) == ["echo.W004"]


@pytest.mark.parametrize(
    "application",
    [
        "sse_project.asgi.application",
        "tests.asgi_routers.echo_router",  # echo's handler as ProtocolTypeRouter's "http"
        "tests.asgi_routers.echo_with_static_files",  # wrapped by staticfiles' ASGI handler
    ],
)
def test_no_w004_for_echos_handler_however_it_is_wrapped(application: str) -> None:
    with override_settings(ASGI_APPLICATION=application):
        assert run(checks.check_asgi_application) == []


# echo.W001 / echo.W002: the middleware.


def test_w001_when_gzip_middleware_is_enabled() -> None:
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, GZIP]):
        messages = run(checks.check_middleware)
        assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W001")]
        assert GZIP in str(messages[0].hint)
        assert echo_ids(run_checks()) == ["echo.W001"]


def test_w002_when_stream_middleware_is_missing() -> None:
    with override_settings(MIDDLEWARE=middleware_without(STREAM_MIDDLEWARE)):
        messages = run(checks.check_middleware)
        assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W002")]
        assert STREAM_MIDDLEWARE in str(messages[0].hint)
        assert echo_ids(run_checks()) == ["echo.W002"]


def test_w001_and_w002_together() -> None:
    with override_settings(MIDDLEWARE=[GZIP]):
        assert echo_ids(run(checks.check_middleware)) == ["echo.W001", "echo.W002"]
        # The project's echo.tickets also misses its middleware here: corsheaders' (W013), its own (W014).
        assert echo_ids(run_checks()) == ["echo.W001", "echo.W002", "echo.W013", "echo.W014"]


def test_w002_when_middleware_setting_is_empty() -> None:
    with override_settings(MIDDLEWARE=[]):
        assert echo_ids(run(checks.check_middleware)) == ["echo.W002"]


# echo.E002: the ECHO setting.


@pytest.mark.parametrize(
    ("echo", "key"),
    [
        ({"UNKNOWN": 1}, "UNKNOWN"),
        ({"PING_INTERVAL": "x"}, "PING_INTERVAL"),
        ({"PING_INTERVAL": "15"}, "PING_INTERVAL"),
        ({"PING_INTERVAL": 0}, "PING_INTERVAL"),
        ({"PING_INTERVAL": -1.0}, "PING_INTERVAL"),
        ({"RETRY": -1}, "RETRY"),
        ({"RETRY": True}, "RETRY"),
        ({"RETRY": 1.5}, "RETRY"),
        ({"RETRY": "3000"}, "RETRY"),
        ({"MESSAGE_MAX_LENGTH": 0}, "MESSAGE_MAX_LENGTH"),
    ],
)
def test_e002_for_a_bad_echo_setting(echo: dict[str, Any], key: str) -> None:
    with override_settings(ECHO=echo):
        messages = run(checks.check_settings)
        assert [(type(m), m.id) for m in messages] == [(Error, "echo.E002")]
        assert f"ECHO[{key!r}]" in messages[0].msg
        assert key in str(messages[0].hint) or key == "UNKNOWN"
        assert "PING_INTERVAL" in str(messages[0].hint) or key == "MESSAGE_MAX_LENGTH"
        assert echo_ids(run_checks()) == ["echo.E002"]


def test_e002_once_per_bad_key() -> None:
    with override_settings(ECHO={"UNKNOWN": 1, "RETRY": -1}):
        messages = run(checks.check_settings)
        assert [m.id for m in messages] == ["echo.E002", "echo.E002"]
        assert sorted(m.msg.split(":")[0].split(" ")[0] for m in messages) == [
            "ECHO['RETRY']",
            "ECHO['UNKNOWN']",
        ]


def test_e002_when_echo_is_not_a_dict() -> None:
    with override_settings(ECHO=["PING_INTERVAL"]):
        assert echo_ids(run(checks.check_settings)) == ["echo.E002"]


@pytest.mark.parametrize(
    "echo",
    [
        {},
        {"PING_INTERVAL": None, "RETRY": None},
        {"PING_INTERVAL": 5, "RETRY": 0},
        {"PING_INTERVAL": 0.25, "RETRY": 3000, "MESSAGE_MAX_LENGTH": 1},
    ],
)
def test_no_e002_for_good_echo_settings(echo: dict[str, Any]) -> None:
    with override_settings(ECHO=echo):
        assert run(checks.check_settings) == []
        assert "echo.E002" not in echo_ids(run_checks())


def test_manage_py_check_reports_bad_settings_without_a_traceback(tmp_path: Path) -> None:
    env = server_env(
        tmp_path / "db.sqlite3", ECHO_TEST_SETTINGS='{"PING_INTERVAL": "soon", "NOT_A_SETTING": 1}'
    )
    done = manage("check", env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert "echo.E002" in done.stderr
    assert "ECHO['PING_INTERVAL']: Input should be a valid number (given 'soon')." in done.stderr
    assert "ECHO['NOT_A_SETTING'] is not a setting of any installed echo package." in done.stderr
