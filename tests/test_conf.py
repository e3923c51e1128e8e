"""`echo.conf.app_settings`: defaults, validation, and `override_settings` seen at once."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from django.test import override_settings
from pydantic import ValidationError

from echo.conf import EchoSettings, app_settings, load

from .servers import run_python

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_when_echo_is_empty() -> None:
    with override_settings(ECHO={}):
        assert app_settings.PING_INTERVAL == 15.0
        assert app_settings.RETRY is None
        assert app_settings.MESSAGE_MAX_LENGTH == 1000
        for name, field in EchoSettings.model_fields.items():
            assert getattr(app_settings, name) == field.default, name


def test_override_settings_is_seen_and_undone() -> None:
    with override_settings(ECHO={}):
        assert app_settings.PING_INTERVAL == 15.0  # cached now
        with override_settings(ECHO={"PING_INTERVAL": 2.5, "RETRY": 500}):
            assert app_settings.PING_INTERVAL == 2.5
            assert app_settings.RETRY == 500
            assert app_settings.MESSAGE_MAX_LENGTH == 1000  # unset keys keep their defaults
        assert app_settings.PING_INTERVAL == 15.0
        assert app_settings.RETRY is None


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


def test_bad_setting_raises_on_first_use() -> None:
    with override_settings(ECHO={"RETRY": -1}):
        with pytest.raises(ValidationError, match="RETRY"):
            load()
        with pytest.raises(ValidationError, match="RETRY"):
            _ = app_settings.RETRY


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = app_settings.NO_SUCH_SETTING  # type: ignore[attr-defined]


def test_settings_are_immutable() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        load().RETRY = 1  # type: ignore[misc]


def test_importing_the_toolkit_and_conf_reads_no_settings() -> None:
    # With no settings module at all, importing must still work: nothing is read at import time.
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    run_python("-W", "error", "-c", "import echo.conf, echo.sse, echo.query", env=env)


def test_gc_threshold_takes_a_list_or_tuple_of_three_counts_or_none() -> None:
    with override_settings(ECHO={"GC_THRESHOLD": [700, 10, 10]}):
        assert app_settings.GC_THRESHOLD == (700, 10, 10)
    with override_settings(ECHO={"GC_THRESHOLD": None}):
        assert app_settings.GC_THRESHOLD is None
    for bad in ([700, 10], [700, 10, -1], "700,10,10"):
        with override_settings(ECHO={"GC_THRESHOLD": bad}), pytest.raises(ValidationError, match="GC_"):
            load()


def test_the_readme_lists_every_setting_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("ECHO = {") :]
    block = block[: block.index("}")]
    for name, field in EchoSettings.model_fields.items():
        assert f'"{name}": ' in block, name
        line = next(line for line in block.splitlines() if f'"{name}": ' in line)
        value = line.split(": ", 1)[1].split("  #")[0].rstrip(",")
        assert ast.literal_eval(value) == field.default, name
