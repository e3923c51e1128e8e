"""Signals the toolkit sends."""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["application_ready"]

# Sent by `echo.sse.asgi.get_asgi_application()` once the application is built, in the process
# that will serve it (not by management commands): where a feature says at start-up how it runs.
application_ready = Signal()
