"""A typed client for echo's event streams, on httpx and httpx-sse:
`pip install 'httpx>=0.27' 'httpx-sse>=0.4'` (echo's [client] extra).

    from echo.client import Client
    from echo.demo.contracts import SSE3

    with Client("http://127.0.0.1:8000") as client:
        for event in client.stream("/sse3", SSE3, params={"message": "hi", "resumable": "1"}):
            ...  # Echo | ReverseEcho | UnknownEvent, typed for mypy

It needs no Django settings. It reconnects as a browser's EventSource does (with the last
`Last-Event-ID`, after the server's `retry:` hint), with exponential backoff and jitter on
failures, and reads the control events for what they mean (see `EventStream`). What a server can
make it hold, how often it can make it connect and how long it can make it wait are bounded (see
`echo.client.policy`): an event past `max_event_size` raises `EventTooLarge`.
"""

from echo.sse.glue.contract import UnknownEvent

from .aio import AsyncClient, AsyncEventStream
from .exceptions import ClientError, EventTooLarge, NotAnEventStream, ReconnectFailed, StreamRefused
from .policy import Reconnect
from .sync import Client, EventStream

__all__ = [
    "AsyncClient",
    "AsyncEventStream",
    "Client",
    "ClientError",
    "EventStream",
    "EventTooLarge",
    "NotAnEventStream",
    "Reconnect",
    "ReconnectFailed",
    "StreamRefused",
    "UnknownEvent",
]
