"""CORS for the stream views, from `ECHO["STREAM_ORIGINS"]`, written by django-cors-headers.

A receiver of corsheaders' `check_request_enabled` signal: it answers yes for a request from a
listed origin to a stream view, and corsheaders' middleware writes the headers (and answers the
preflight) as for its own settings. Without credentials: a page on another origin authenticates
with a ticket, so `withCredentials` stays false and no cookie crosses origins.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .conf import app_settings
from .issue import is_stream_path

__all__ = ["allow_stream_origin"]

_METHODS = ("GET", "HEAD", "OPTIONS")


def allow_stream_origin(sender: Any, request: HttpRequest, **kwargs: Any) -> bool:
    origins = app_settings.STREAM_ORIGINS
    return (
        bool(origins)
        and request.headers.get("origin") in origins
        and request.method in _METHODS
        and is_stream_path(request.path_info)
    )
