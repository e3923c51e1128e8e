"""What each echo stream sends, declared once: the views, the schema and typed clients read these."""

from __future__ import annotations

from echo.sse.glue.contract import StreamContract

from .query import EchoQuery
from .streams import Echo, EchoText, ReverseEcho

__all__ = ["SSE", "SSE2", "SSE3"]

SSE: StreamContract[EchoText] = StreamContract(
    EchoText,
    ids="plain",
    query=EchoQuery,
    description="The article's untyped stream: `echo` events whose data is a Python dict's text.",
)
SSE2: StreamContract[Echo] = StreamContract(
    Echo, ids="plain", query=EchoQuery, description="Typed `echo` events, one per interval."
)
SSE3: StreamContract[Echo | ReverseEcho] = StreamContract(
    Echo,
    ReverseEcho,
    ids="composite",
    query=EchoQuery,
    description=(
        "`echo` and `reverse_echo` merged. Ids are per source (0, 1, ...) as in the article, unless "
        "`resumable=1` (or a composite Last-Event-ID) asks for composite ids (`echo:2,reverse_echo:1`)."
    ),
)
