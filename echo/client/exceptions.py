"""Errors the client raises.

ClientError
├── StreamRefused     a 4xx answer: the request itself is wrong (carries the JSON error body)
├── NotAnEventStream  a 2xx answer that is not `text/event-stream`
├── EventTooLarge     a line or an event past the client's `max_event_size` (carries `limit`)
└── ReconnectFailed   `Reconnect.max_attempts` failures in a row (carries the last cause)
"""

from __future__ import annotations

from typing import Any

__all__ = ["ClientError", "EventTooLarge", "NotAnEventStream", "ReconnectFailed", "StreamRefused"]


class ClientError(Exception):
    pass


class StreamRefused(ClientError):
    """The server answered 4xx: `status`, `body` (the parsed JSON error, else the text), and
    `error`, the body's `error` code when it has one."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        self.error: str | None = body.get("error") if isinstance(body, dict) else None
        detail = body.get("detail") if isinstance(body, dict) else body
        super().__init__(f"{status}: {detail}")


class NotAnEventStream(ClientError):
    def __init__(self, status: int, content_type: str) -> None:
        self.status = status
        self.content_type = content_type
        super().__init__(f"{status} with Content-Type {content_type!r}, not text/event-stream")


class EventTooLarge(ClientError):
    """The server sent a line, or an event, longer than `limit` bytes: the stream is abandoned
    (not reconnected), since a server that sends one would send it again."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the server sent an event or a line of more than {limit} bytes (max_event_size)")


class ReconnectFailed(ClientError):
    def __init__(self, attempts: int, cause: BaseException | str) -> None:
        self.attempts = attempts
        self.cause = cause
        super().__init__(f"gave up after {attempts} failed attempts in a row: {cause}")
