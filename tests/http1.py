"""Reading raw HTTP/1.1 responses taken off a socket by the tests that must not use a client."""

from __future__ import annotations

__all__ = ["dechunk"]


def dechunk(body: bytes, *, complete: bool = True) -> bytes:
    """The payload of a chunked body. With ``complete=False`` a body cut off mid-chunk (a stream
    the server ended abruptly) yields what arrived whole; otherwise the last chunk must be there.

    Works by offset: the bodies are tens of megabytes and slicing off each chunk would copy the
    rest every time."""
    out = bytearray()
    view = memoryview(body)
    at = 0
    while True:
        line_end = body.find(b"\r\n", at)
        if line_end < 0:
            assert not complete, "no last chunk"
            return bytes(out)
        size = int(body[at:line_end], 16)
        start = line_end + 2
        if size == 0:
            return bytes(out)
        if start + size + 2 > len(body):
            assert not complete, "body cut off mid-chunk"
            return bytes(out)
        out += view[start : start + size]
        assert body[start + size : start + size + 2] == b"\r\n", "chunk not followed by CRLF"
        at = start + size + 2
