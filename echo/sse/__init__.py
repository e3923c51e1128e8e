"""A small toolkit for typed server-sent events on Django.

Imports only Django, Pydantic and asyncio; the `echo` app builds on it, never the reverse.
"""

from .event import ServerSentEvent
from .events import BaseEvent, event_name_for
from .exceptions import EventStreamError, FieldError, StreamTypeError
from .lifecycle import EndReason, StreamInfo, StreamObserver, add_observer, live_streams, remove_observer
from .merge import merge
from .middleware import EventStreamMiddleware
from .response import EventStreamResponse, StreamItem, current_response
from .source import EventSource, event_source

__all__ = [
    "BaseEvent",
    "EndReason",
    "EventSource",
    "EventStreamError",
    "EventStreamMiddleware",
    "EventStreamResponse",
    "FieldError",
    "ServerSentEvent",
    "StreamInfo",
    "StreamItem",
    "StreamObserver",
    "StreamTypeError",
    "add_observer",
    "current_response",
    "event_name_for",
    "event_source",
    "live_streams",
    "merge",
    "remove_observer",
]
