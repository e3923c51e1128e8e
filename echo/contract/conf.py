"""The `ECHO` keys the schema reads (see `echo.sse.conf`)."""

from __future__ import annotations

from typing import ClassVar

from echo.sse.conf import Section, lazy

__all__ = ["ContractSettings", "app_settings"]


class ContractSettings(Section):
    owner: ClassVar[str] = "echo.contract"

    # The schema URL answers anyone when True; by default only staff users (a JSON 403 otherwise).
    SCHEMA_PUBLIC: bool = False
    SCHEMA_TITLE: str = "Event streams"
    SCHEMA_VERSION: str = "1.0.0"
    SCHEMA_DESCRIPTION: str = ""


app_settings: ContractSettings = lazy(ContractSettings)
