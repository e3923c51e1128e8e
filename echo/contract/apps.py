from __future__ import annotations

from django.apps import AppConfig

__all__ = ["ContractConfig"]


class ContractConfig(AppConfig):
    name = "echo.contract"
    label = "echo_contract"
    verbose_name = "Event stream schema"

    def ready(self) -> None:
        from echo.sse.apps import ready_toolkit

        from . import conf  # noqa: F401 - declares its settings for the check

        ready_toolkit()
