"""The `ECHO` keys the echo demo reads (see `echo.sse.conf`)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from echo.sse.conf import Section, lazy

__all__ = ["DemoSettings", "app_settings"]


class DemoSettings(Section):
    owner: ClassVar[str] = "echo.demo"

    # Longest `message` the echo streams accept (and text the demo channel's publish form takes).
    MESSAGE_MAX_LENGTH: Annotated[int, Field(ge=1)] = 1000


app_settings: DemoSettings = lazy(DemoSettings)
