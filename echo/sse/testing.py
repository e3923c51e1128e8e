"""The public path of the test helpers (`from echo.sse.testing import open_stream, read_events`):
a re-export of `echo.sse.glue.testing`."""

from .glue.testing import EventStreamReader, open_stream, read_events

__all__ = ["EventStreamReader", "open_stream", "read_events"]
