"""A small toolkit for typed server-sent events on Django.

Imports only Django, Pydantic and asyncio; the `echo` app builds on it, never the reverse.
"""

from .event import ServerSentEvent
from .events import BaseEvent, event_name_for
from .exceptions import EventStreamError, FieldError, StreamTypeError
from .merge import merge
from .middleware import EventStreamMiddleware
from .response import EventStreamResponse, StreamItem
from .source import event_source

__all__ = [
    "BaseEvent",
    "EventStreamError",
    "EventStreamMiddleware",
    "EventStreamResponse",
    "FieldError",
    "ServerSentEvent",
    "StreamItem",
    "StreamTypeError",
    "event_name_for",
    "event_source",
    "merge",
]
