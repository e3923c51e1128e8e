"""The wire format: what goes over the connection, with no Django and no process state.

`encode` (a `ServerSentEvent` and its bytes), `decode` (bytes back to events), `typed_events`
(Pydantic events that name themselves), `endings` (the table of end reasons and their final
events), `control` (the events the toolkit itself sends), and the async iteration the streams are
made of (`iterators`, `merge`, `source`). Imports nothing of `echo.sse` but `echo.sse.exceptions`.
"""
