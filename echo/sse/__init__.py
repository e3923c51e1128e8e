"""A small toolkit for typed server-sent events on Django.

Imports only Django, Pydantic, asgiref and asyncio, and nothing of `echo` outside `echo.sse`:
the features (`echo.sessions`, `echo.broadcast`, `echo.server`) build on it, never the reverse.

This module is its front: the names a site or a feature uses, in a sorted `__all__`. Behind it,
three layers, each importing only those below it (`lint-imports` checks): `echo.sse.wire`, the
wire format (encoding, typed events, end reasons, merge); `echo.sse.runtime`, what a process does
for its open streams (a stream's run, keep-alive, the registry, shutdown, threads); and
`echo.sse.glue`, where it meets Django (the response, middleware, ASGI handler, checks).
"""

from .exceptions import EventStreamError, FieldError, LastEventIdError, StreamTypeError
from .glue.contract import StreamContract, UnknownEvent, declare
from .glue.http import json_error
from .glue.middleware import EventStreamMiddleware
from .glue.response import EventStreamComplete, EventStreamResponse, StreamItem, current_response
from .runtime.protocols import StreamObserver
from .runtime.registry import add_observer, live_streams, remove_observer
from .runtime.stream_info import StreamInfo
from .wire.encode import ServerSentEvent
from .wire.endings import EndReason
from .wire.merge import merge
from .wire.source import EventSource, event_source
from .wire.typed_events import BaseEvent, event_name_for

__all__ = [
    "BaseEvent",
    "EndReason",
    "EventSource",
    "EventStreamComplete",
    "EventStreamError",
    "EventStreamMiddleware",
    "EventStreamResponse",
    "FieldError",
    "LastEventIdError",
    "ServerSentEvent",
    "StreamContract",
    "StreamInfo",
    "StreamItem",
    "StreamObserver",
    "StreamTypeError",
    "UnknownEvent",
    "add_observer",
    "current_response",
    "declare",
    "event_name_for",
    "event_source",
    "json_error",
    "live_streams",
    "merge",
    "remove_observer",
]
