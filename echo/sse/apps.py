from __future__ import annotations

import logging

from django.apps import AppConfig
from django.core import checks

__all__ = ["SseConfig", "ready_toolkit"]


class SseConfig(AppConfig):
    """The toolkit as an app: its system checks and default logging (nothing of it needs the app
    registry). The feature apps do the same, so a site that installs one need not list this."""

    name = "echo.sse"
    label = "echo_sse"
    verbose_name = "Server-sent events"

    def ready(self) -> None:
        ready_toolkit()


def ready_toolkit() -> None:
    """Register the toolkit's checks, its process state's resets and its start-up work, and give
    echo's loggers a default; safe to call repeatedly (from every echo app's `ready()`)."""
    from .glue import checks as sse_checks
    from .runtime import state
    from .runtime.liveness import pinger
    from .runtime.registry import registry
    from .runtime.shutdown import on_application_ready, shutdown
    from .runtime.startup import application_ready

    # The registry keeps a set: a check registered twice runs once.
    checks.register(sse_checks.check_daphne_first, checks.Tags.compatibility)
    checks.register(sse_checks.check_asgi_application, checks.Tags.compatibility)
    checks.register(sse_checks.check_middleware, checks.Tags.compatibility)
    checks.register(sse_checks.check_settings)
    # Registered under their names: a second call replaces, never adds.
    state.register_reset("echo.sse.runtime.registry.registry", registry.reset)
    state.register_reset("echo.sse.runtime.liveness.pinger", pinger.reset)
    state.register_reset("echo.sse.runtime.shutdown.shutdown", shutdown.reset)
    # Side effects on the process are done when it starts serving, never by a stream.
    application_ready.connect(on_application_ready, dispatch_uid="echo.sse.runtime.shutdown")
    _default_logging()


def _default_logging() -> None:
    # Django's default logging leaves echo's INFO lines (the broadcast mode at start-up, a
    # terminate) unseen unless something handles them. Like Django for its own "django" logger,
    # echo gets a console handler, only when the site's LOGGING (or the server, as Daphne's
    # command line does) configured nothing that would print them.
    logger = logging.getLogger("echo")
    if logger.level == logging.NOTSET and not logger.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
