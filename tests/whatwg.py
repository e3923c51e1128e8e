"""A reference event-stream parser, written from WHATWG HTML, "Server-sent events",
section "Interpreting an event stream", to check the encoder against the spec rather than
against another implementation.

It parses one complete stream (bytes or already decoded text) and models the spec's state
exactly: the data, event type and last event ID buffers, the last event ID string set at each
dispatch, and the reconnection time. What it leaves out is what has no wire meaning here: the
origin, the DOM event objects, and reconnecting.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Event", "Stream", "parse"]

# The spec's three line endings, and only those: not U+2028, U+0085, VT, FF or the like.
_END_OF_LINE = re.compile(r"\r\n|\r|\n")
_ASCII_DIGITS = re.compile(r"[0-9]+")


class Event(NamedTuple):
    """One dispatched `MessageEvent`: its type, its data and its `lastEventId`."""

    type: str
    data: str
    last_event_id: str


class Stream(NamedTuple):
    """Everything a client keeps from a stream once it has read all of it."""

    events: list[Event]
    # The reconnection time last set by a valid `retry` field, in milliseconds.
    retry: int | None
    # The last event ID string: what the client would send as `Last-Event-ID` on reconnecting.
    last_event_id: str


def parse(stream: bytes | str) -> Stream:
    if isinstance(stream, bytes):
        # The stream is UTF-8 decoded; invalid sequences become U+FFFD rather than failing.
        stream = stream.decode("utf-8", errors="replace")
    # One leading byte order mark is ignored; a second one is content.
    stream = stream.removeprefix("\ufeff")

    lines = _END_OF_LINE.split(stream)
    # Whatever follows the last line ending is an unfinished line: at the end of the stream the
    # pending event is discarded, so it cannot affect the result.
    del lines[-1]

    events: list[Event] = []
    data = ""
    event_type = ""
    last_event_id_buffer = ""
    last_event_id = ""
    retry: int | None = None

    for line in lines:
        if line == "":
            # Dispatch. The last event ID string is updated even when no event is dispatched.
            last_event_id = last_event_id_buffer
            if data == "":
                event_type = ""
                continue
            events.append(Event(event_type or "message", data.removesuffix("\n"), last_event_id))
            data = ""
            event_type = ""
            continue
        if line.startswith(":"):
            continue  # a comment
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]  # exactly one space, however many there are
        if name == "event":
            event_type = value
        elif name == "data":
            data += value + "\n"
        elif name == "id":
            if "\0" not in value:
                last_event_id_buffer = value
        elif name == "retry" and _ASCII_DIGITS.fullmatch(value):
            retry = int(value)
        # Any other field name is ignored.

    return Stream(events, retry, last_event_id)
