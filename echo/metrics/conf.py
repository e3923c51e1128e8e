"""The `ECHO` keys the metrics endpoint reads (see `echo.sse.conf`)."""

from __future__ import annotations

from typing import ClassVar

from echo.sse.conf import Section, lazy

__all__ = ["MetricsSettings", "app_settings"]


class MetricsSettings(Section):
    owner: ClassVar[str] = "echo.metrics"

    # A scraper sends `Authorization: Bearer <token>`; staff users need none. Empty: staff only.
    METRICS_TOKEN: str = ""


app_settings: MetricsSettings = lazy(MetricsSettings)
