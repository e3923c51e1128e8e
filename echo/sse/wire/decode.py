"""Reading an event stream back, incrementally, as WHATWG HTML's "Interpreting an event stream"
says: for `echo.sse.glue.testing`, which must not need a client library.

`EventDecoder.feed(bytes)` returns the events completed by those bytes. Each is a
`ServerSentEvent` with `event` set to the type the client dispatches (`"message"` when the
stream named none), `id` the last event ID string at that point (a str), and `retry` the
reconnection time when this event's block set one. A `retry:` in a block without data is
remembered in `decoder.retry` (as a client's reconnection time).
"""

from __future__ import annotations

import codecs
import re

from .encode import ServerSentEvent

__all__ = ["EventDecoder"]

_DIGITS = re.compile(r"[0-9]+")


class EventDecoder:
    """An event-stream parser fed with bytes as they arrive."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._id_buffer = ""
        self._block_retry: int | None = None
        self.last_event_id = ""
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = self._pending + self._text.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        events: list[ServerSentEvent] = []
        start = 0
        length = len(text)
        while start < length:
            cr = text.find("\r", start)
            lf = text.find("\n", start)
            if cr == -1 and lf == -1:
                break
            if cr != -1 and (lf == -1 or cr < lf):
                if cr + 1 == length:
                    break  # a CR at the end may be the first half of a CRLF: wait for more
                end, after = cr, cr + 2 if text[cr + 1] == "\n" else cr + 1
            else:
                end, after = lf, lf + 1
            event = self._line(text[start:end])
            if event is not None:
                events.append(event)
            start = after
        self._pending = text[start:]
        return events

    def close(self) -> list[ServerSentEvent]:
        """The end of the stream: a CR left waiting for an LF ends its line after all."""
        pending, self._pending = self._pending, ""
        if pending.endswith("\r"):
            event = self._line(pending[:-1])
            return [] if event is None else [event]
        return []

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry" and _DIGITS.fullmatch(value):
            self._block_retry = self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        self.last_event_id = self._id_buffer
        data, event, retry = self._data, self._event, self._block_retry
        self._data, self._event, self._block_retry = [], "", None
        if not data:
            return None
        return ServerSentEvent(
            data="\n".join(data), event=event or "message", id=self.last_event_id or None, retry=retry
        )
