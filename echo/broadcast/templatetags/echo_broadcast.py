"""`{% load echo_broadcast %}{% channel_stream_url "prices" as url %}`: the URL a page streams a
channel from, at the position it has as the page renders (`echo.broadcast.bootstrap`)."""

from __future__ import annotations

from typing import Any

from django import template
from django.core.exceptions import ImproperlyConfigured

from ..bootstrap import channel_stream_url as stream_url_for

__all__ = ["channel_stream_url", "register"]

register = template.Library()


@register.simple_tag(takes_context=True)
def channel_stream_url(context: template.Context, *channels: str) -> str:
    """Put it before the data the page shows: the position is read when the tag renders."""
    request: Any = context.get("request")
    if request is None:
        # Read access is the request's user's: without it the tag cannot say who may see a position.
        raise ImproperlyConfigured(
            "{% channel_stream_url %} needs the request in the template context: render with "
            "request (TemplateResponse, render()) and 'django.template.context_processors.request'."
        )
    return stream_url_for(request, *channels)
