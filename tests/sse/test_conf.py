"""`echo.sse.conf`: sections of `ECHO`, defaults, validation, `override_settings` seen at once."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from django.test import override_settings
from pydantic import ValidationError

from echo.broadcast.conf import BroadcastSettings
from echo.broadcast.conf import app_settings as broadcast_settings
from echo.contract.conf import ContractSettings
from echo.demo.conf import DemoSettings
from echo.demo.conf import app_settings as demo_settings
from echo.metrics.conf import MetricsSettings
from echo.server.conf import ServerSettings
from echo.sessions.conf import SessionSettings
from echo.sessions.conf import app_settings as session_settings
from echo.sse.conf import Section, SseSettings, app_settings, lazy, sections

from ..servers import run_python

ROOT = Path(__file__).resolve().parents[2]
ALL = (SseSettings, ServerSettings, SessionSettings, BroadcastSettings, DemoSettings)


def test_every_package_declares_its_section() -> None:
    assert set(ALL) <= set(sections())
    declared: dict[str, list[tuple[object, object]]] = {}
    for section in ALL:
        for name, field in section.model_fields.items():
            declared.setdefault(name, []).append((field.annotation, field.default))
    shared = {name: kinds for name, kinds in declared.items() if len(kinds) > 1}
    # REDIS_URL is read by broadcast (the relay) and sessions (the control bus), and
    # SECRET_QUERY_PARAMETERS by sessions (rows) and the server adapter (its access log): one meaning.
    assert set(shared) == {"REDIS_URL", "SECRET_QUERY_PARAMETERS"}
    assert all(len(set(kinds)) == 1 for kinds in shared.values()), shared


def test_defaults_when_echo_is_empty() -> None:
    with override_settings(ECHO={}):
        assert app_settings.PING_INTERVAL == 15.0
        assert app_settings.RETRY is None
        assert demo_settings.MESSAGE_MAX_LENGTH == 1000
        for section in ALL:
            values = lazy(section)
            for name, field in section.model_fields.items():
                assert getattr(values, name) == field.default, name


def test_override_settings_is_seen_and_undone() -> None:
    with override_settings(ECHO={}):
        assert app_settings.PING_INTERVAL == 15.0  # cached now
        with override_settings(ECHO={"PING_INTERVAL": 2.5, "RETRY": 500, "RECORD_SESSIONS": False}):
            assert app_settings.PING_INTERVAL == 2.5
            assert app_settings.RETRY == 500
            assert session_settings.RECORD_SESSIONS is False
            assert broadcast_settings.BROADCAST_BUFFER == 1000  # unset keys keep their defaults
        assert app_settings.PING_INTERVAL == 15.0
        assert app_settings.RETRY is None
        assert session_settings.RECORD_SESSIONS is True


def test_none_turns_ping_off() -> None:
    with override_settings(ECHO={"PING_INTERVAL": None}):
        assert app_settings.PING_INTERVAL is None


def test_an_int_is_accepted_for_a_float_setting() -> None:
    with override_settings(ECHO={"PING_INTERVAL": 5}):
        assert app_settings.PING_INTERVAL == 5


def test_other_setting_changes_keep_the_cache() -> None:
    with override_settings(ECHO={"RETRY": 1}):
        assert app_settings.RETRY == 1
        with override_settings(USE_TZ=False):
            assert app_settings.RETRY == 1


def test_a_bad_setting_raises_on_first_use_of_its_section_only() -> None:
    with override_settings(ECHO={"RETRY": -1}):
        with pytest.raises(ValidationError, match="RETRY"):
            _ = app_settings.RETRY
        assert session_settings.RECORD_SESSIONS is True  # another section reads on


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = app_settings.NO_SUCH_SETTING  # type: ignore[attr-defined]


def test_settings_are_immutable() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        SseSettings().RETRY = 1  # type: ignore[misc]


def test_a_new_section_is_known_to_the_check() -> None:
    class Extra(Section):
        EXTRA_FLAG: bool = False

    assert Extra in sections()


def test_importing_the_packages_reads_no_settings() -> None:
    # With no settings module at all, importing must still work: nothing is read at import time.
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    run_python("-W", "error", "-c", "import echo.sse, echo.sse.conf, echo.demo.query", env=env)


def test_gc_threshold_takes_a_list_or_tuple_of_three_counts_or_none() -> None:
    with override_settings(ECHO={"GC_THRESHOLD": [700, 10, 10]}):
        assert app_settings.GC_THRESHOLD == (700, 10, 10)
    with override_settings(ECHO={"GC_THRESHOLD": None}):
        assert app_settings.GC_THRESHOLD is None
    for bad in ([700, 10], [700, 10, -1], "700,10,10"):
        with pytest.raises(ValidationError, match="GC_"):
            SseSettings.model_validate({"GC_THRESHOLD": bad})


def test_the_readme_lists_every_setting_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("ECHO = {\n")
    # The block as Python, so that a value may span lines (a tuple of names).
    (assignment,) = ast.parse(readme[start : readme.index("\n}\n", start) + 2]).body
    assert isinstance(assignment, ast.Assign)
    assert isinstance(assignment.value, ast.Dict)
    listed = {
        ast.literal_eval(key): ast.literal_eval(value)
        for key, value in zip(assignment.value.keys, assignment.value.values, strict=True)
        if key is not None
    }
    for section in (*ALL, ContractSettings, MetricsSettings):
        for name, field in section.model_fields.items():
            assert name in listed, name
            assert listed[name] == field.default, name
