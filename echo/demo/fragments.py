"""The htmx page's stream: each echo as an HTML card rendered from a template (`echo.sse.Fragment`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from pydantic import BaseModel, Field, computed_field

from echo.sse import Fragment, event_source
from echo.sse.glue.contract import StreamContract

from .query import EchoQuery
from .streams import ticks

__all__ = ["HTMX_SSE", "EchoCard", "EchoCardContext", "echo_cards"]


class EchoCardContext(BaseModel):
    n: int = Field(ge=0)
    message: str
    created_at: datetime = Field(default_factory=datetime.now)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form
    @property
    def reversed(self) -> str:
        return self.message[::-1]


class EchoCard(Fragment[EchoCardContext]):
    """An echo as a card of several lines of HTML, for `sse-swap="echo_card"`."""

    template_name = "echo_demo/fragments/echo_card.html"


HTMX_SSE: StreamContract[EchoCard] = StreamContract(
    EchoCard,
    ids="plain",
    query=EchoQuery,
    description="`echo_card` events whose data is an HTML fragment, for htmx's SSE extension.",
)


@event_source
async def echo_cards(message: str, interval: float) -> AsyncIterator[EchoCard]:
    async for n in ticks(interval):
        yield EchoCard.render(EchoCardContext(n=n, message=message))
