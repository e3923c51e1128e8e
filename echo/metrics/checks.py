"""The metrics app's system check.

- `echo.E008`: `echo.metrics` is installed and prometheus_client is not (the `[metrics]` extra).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error

__all__ = ["check_prometheus_client", "installed"]


def installed() -> bool:
    return importlib.util.find_spec("prometheus_client") is not None


def check_prometheus_client(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if installed():
        return []
    return [
        Error(
            "echo.metrics is installed and prometheus_client is not: GET metrics cannot answer.",
            hint="pip install 'prometheus_client>=0.20' (echo's [metrics] extra), or remove echo.metrics "
            "from INSTALLED_APPS.",
            id="echo.E008",
        )
    ]
