"""The `ECHO` keys the metrics endpoint reads (see `echo.sse.conf`)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from echo.sse.conf import Section, lazy

__all__ = ["MetricsSettings", "app_settings"]


class MetricsSettings(Section):
    owner: ClassVar[str] = "echo.metrics"

    # A scraper sends `Authorization: Bearer <token>`; a staff session needs none. Empty: sessions only.
    METRICS_TOKEN: str = ""
    # What a staff user's session needs besides `is_staff` (`app_label.codename`): by default the
    # permission the sessions dashboard asks for, so metrics show no one more than it does.
    # Superusers have every permission; where echo.sessions is not installed, only they pass.
    METRICS_PERMISSION: Annotated[str, Field(pattern=r"^[\w-]+\.[\w-]+$")] = (
        "echo_sessions.view_streamsession"
    )


app_settings: MetricsSettings = lazy(MetricsSettings)
