from __future__ import annotations

from django.apps import AppConfig

__all__ = ["MetricsConfig"]


class MetricsConfig(AppConfig):
    name = "echo.metrics"
    label = "echo_metrics"
    verbose_name = "Event stream metrics"

    def ready(self) -> None:
        from django.core import checks

        from echo.sse.apps import ready_toolkit

        from . import checks as metrics_checks
        from . import conf  # noqa: F401 - declares its settings for the check

        ready_toolkit()
        checks.register(metrics_checks.check_prometheus_client)
        if metrics_checks.installed():
            from prometheus_client import REGISTRY

            from .collector import StatsCollector

            global _registered
            # Once per process: the registry refuses a second collector with the same names.
            if not _registered:
                REGISTRY.register(StatsCollector())
                _registered = True


_registered = False
