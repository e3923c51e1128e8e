"""The `ECHO` keys stream tickets read (see `echo.sse.conf`)."""

from __future__ import annotations

from typing import Annotated, ClassVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from echo.sse.conf import Section, lazy

__all__ = ["TicketSettings", "app_settings"]


def _origins(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or value != f"{parts.scheme}://{parts.netloc}"
        ):
            raise ValueError(f"{value!r} is not an origin (scheme://host[:port], nothing after it)")
    return values


class TicketSettings(Section):
    owner: ClassVar[str] = "echo.tickets"

    # Seconds a ticket opens its stream for. Reconnects reuse the ticket, so this is also how long
    # a page can reconnect without asking for a new one; a leaked URL is useless after it.
    TICKET_LIFETIME: Annotated[int, Field(ge=1, le=86_400)] = 300
    # Origins (`https://app.example.com`) whose pages may read the stream views, through
    # django-cors-headers; nothing else of the site is opened to them.
    STREAM_ORIGINS: Annotated[tuple[str, ...], Field(strict=False), AfterValidator(_origins)] = ()


app_settings: TicketSettings = lazy(TicketSettings)
