"""Start-up: `application_ready`, the signal sent once per serving process when it starts
serving, and whether it was sent."""

from __future__ import annotations

import threading

from django.dispatch import Signal

__all__ = ["announce_ready", "announced", "application_ready"]

# Sent once per serving process, when it starts serving echo's ASGI application: by
# `echo.server`'s server as it starts, at an ASGI `lifespan` start-up (uvicorn), or else with the
# first request. Never on import, so that a system check or a management command can import the
# ASGI module without it. Where a feature says at start-up how it runs.
application_ready = Signal()

_sent = False
_lock = threading.Lock()


def announced() -> bool:
    """Whether `application_ready` was sent in this process (a read without the lock: a stale
    False only costs the caller a call to `announce_ready`, which decides under it)."""
    return _sent


def announce_ready(sender: object) -> bool:
    """Send `application_ready` unless this process has already; whether it was sent now."""
    global _sent
    with _lock:
        if _sent:
            return False
        _sent = True
    application_ready.send(sender=sender)
    return True
