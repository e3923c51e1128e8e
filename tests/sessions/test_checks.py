"""Stream sessions' system checks, each by id (`echo.sessions.checks`)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import Error, Warning, run_checks
from django.test import override_settings

from echo.sessions import checks

REDIS = {"REDIS_URL": "redis://127.0.0.1:1/0"}
IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def echo_ids() -> list[str]:
    return sorted(str(m.id) for m in run_checks() if str(m.id).startswith("echo."))


def test_the_project_passes_every_sessions_check() -> None:
    assert checks.check_channel_layer(None) == []
    assert checks.check_connections(None) == []


def test_w007_when_redis_is_set_and_the_channel_layer_is_in_memory() -> None:
    with override_settings(ECHO=REDIS, CHANNEL_LAYERS=IN_MEMORY):
        messages = checks.check_channel_layer(None)
        assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W007")]
        assert "remove CHANNEL_LAYERS" in str(messages[0].hint)
        assert echo_ids() == ["echo.W007"]


def test_no_w007_when_echo_carries_terminate_over_redis_itself() -> None:
    with override_settings(ECHO=REDIS):
        del settings.CHANNEL_LAYERS
        assert checks.check_channel_layer(None) == []


def test_e006_when_redis_is_set_without_channels_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "channels_redis" else real(name, *args)

    monkeypatch.setattr(checks.importlib.util, "find_spec", find_spec)
    with override_settings(ECHO=REDIS):
        del settings.CHANNEL_LAYERS
        messages = checks.check_channel_layer(None)
        assert [(type(m), m.id) for m in messages] == [(Error, "echo.E006")]


@pytest.mark.parametrize("age", [60, None])
def test_w008_when_connections_are_kept_while_recording(
    age: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Put back when the test ends (override_settings refuses DATABASES).
    monkeypatch.setitem(settings.DATABASES["default"], "CONN_MAX_AGE", age)
    messages = checks.check_connections(None)
    assert [(type(m), m.id) for m in messages] == [(Warning, "echo.W008")]
    assert "default" in messages[0].msg
    with override_settings(ECHO={"RECORD_SESSIONS": False}):
        assert checks.check_connections(None) == []
