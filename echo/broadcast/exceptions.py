"""Errors broadcast raises on purpose.

BroadcastError
├── RelayUnavailable    Redis (`ECHO["REDIS_URL"]`) could not be reached to tell the others
├── UndeclaredChannel   (LookupError) a channel no `declare_channel` covers
└── UndeclaredEvent     (TypeError) an event type its channel's declaration does not list
"""

from __future__ import annotations

__all__ = ["BroadcastError", "RelayUnavailable", "UndeclaredChannel", "UndeclaredEvent"]


class BroadcastError(Exception):
    pass


class RelayUnavailable(BroadcastError):
    """The event is stored and delivered in this process; other processes were not told.

    Raised by `publish(..., strict=True)` with the id the stored event was given (`event_id`).
    """

    def __init__(self, message: str, *, event_id: int | None = None) -> None:
        super().__init__(message)
        self.event_id = event_id


class UndeclaredChannel(BroadcastError, LookupError):
    """No `echo.broadcast.channels.declare_channel` covers the channel: nothing was published."""


class UndeclaredEvent(BroadcastError, TypeError):
    """The channel's declaration does not list the event's type: nothing was published."""
