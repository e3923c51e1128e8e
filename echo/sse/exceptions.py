"""Errors raised by the SSE toolkit.

The tree, kept small on purpose::

    EventStreamError
    ├── FieldError(ValueError)        a value would break the wire format (CR/LF in `event`, ...)
    └── StreamTypeError(TypeError)    a stream the response cannot serve (a sync iterator, ...)

Each also subclasses the built-in a caller would naturally catch.
"""

from __future__ import annotations

__all__ = ["EventStreamError", "FieldError", "StreamTypeError"]


class EventStreamError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class FieldError(EventStreamError, ValueError):
    """A field value that cannot be written without changing the meaning of the stream."""


class StreamTypeError(EventStreamError, TypeError):
    """A stream, or an item in it, that `EventStreamResponse` cannot serve."""
