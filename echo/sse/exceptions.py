"""Errors raised by the SSE toolkit.

The tree, kept small on purpose::

    EventStreamError
    ├── FieldError(ValueError)        a value would break the wire format (CR/LF in `event`, ...)
    ├── LastEventIdError(ValueError)  a Last-Event-ID a stream cannot resume from (a 400)
    └── StreamTypeError(TypeError)    a stream the response cannot serve (a sync iterator, ...)

Each also subclasses the built-in a caller would naturally catch.
"""

from __future__ import annotations

__all__ = ["EventStreamError", "FieldError", "LastEventIdError", "StreamTypeError"]


class EventStreamError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class FieldError(EventStreamError, ValueError):
    """A field value that cannot be written without changing the meaning of the stream."""


class LastEventIdError(EventStreamError, ValueError):
    """A `Last-Event-ID` a stream cannot resume from: `raw` as given, `expected` what it takes.
    `echo.sse.glue.http.invalid_last_event_id` answers it with the one 400 every stream gives."""

    def __init__(self, raw: str, expected: str) -> None:
        super().__init__(f"cannot resume from Last-Event-ID: expected {expected}")
        self.raw = raw
        self.expected = expected


class StreamTypeError(EventStreamError, TypeError):
    """A stream, or an item in it, that `EventStreamResponse` cannot serve."""
