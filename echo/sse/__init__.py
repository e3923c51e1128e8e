"""A small toolkit for typed server-sent events on Django.

Imports only Django, Pydantic, asgiref and asyncio, and nothing of `echo` outside `echo.sse`:
the features (`echo.sessions`, `echo.broadcast`, `echo.server`) build on it, never the reverse.
"""

from .event import ServerSentEvent
from .events import BaseEvent, event_name_for
from .exceptions import EventStreamError, FieldError, LastEventIdError, StreamTypeError
from .info import EndReason, StreamInfo
from .merge import merge
from .middleware import EventStreamMiddleware
from .registry import add_observer, live_streams, remove_observer
from .response import EventStreamResponse, StreamItem, current_response
from .source import EventSource, event_source
from .types import StreamObserver

__all__ = [
    "BaseEvent",
    "EndReason",
    "EventSource",
    "EventStreamError",
    "EventStreamMiddleware",
    "EventStreamResponse",
    "FieldError",
    "LastEventIdError",
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
