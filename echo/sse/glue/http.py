"""Plain HTTP helpers for stream endpoints: JSON errors and the client's `Last-Event-ID`.

A client of an event stream reads JSON, not Django's HTML error pages: every refusal a stream
view makes is `json_error(status, code, detail)`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, JsonResponse

from ..exceptions import LastEventIdError

__all__ = [
    "WHOLE_ID",
    "WHOLE_ID_TEXT",
    "client_address",
    "csrf_failure",
    "invalid_last_event_id",
    "json_error",
    "last_event_id",
    "method_not_allowed",
]

# A numeric event id as streams here write them: a whole number below 10**18 in ASCII digits
# (`str.isdigit` also takes other scripts' digits, which `int()` may refuse, and Python refuses
# very long digit strings with an error).
WHOLE_ID = re.compile(r"[0-9]{1,18}")
WHOLE_ID_TEXT = "a whole number of at most 18 digits"
# How much of a refused id an error message repeats.
_SHOWN = 80


def json_error(status: int, error: str, detail: str, **extra: Any) -> JsonResponse:
    """`{"error": code, "detail": text, ...extra}` with `status`."""
    return JsonResponse({"error": error, "detail": detail, **extra}, status=status)


def method_not_allowed(request: HttpRequest, allowed: Sequence[str]) -> JsonResponse:
    response = json_error(
        405, "method_not_allowed", f"{request.method} is not allowed here.", allowed=list(allowed)
    )
    response["Allow"] = ", ".join(allowed)
    return response


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address in its normal form, or None when `REMOTE_ADDR` holds none.

    Behind `--proxy-headers` the server copies `REMOTE_ADDR` from a header that a client can
    write (`X-Forwarded-For`) unless the proxy overwrites it: whatever it holds is validated here
    before it keys a limit or is stored.
    """
    raw = request.META.get("REMOTE_ADDR")
    if not raw or not isinstance(raw, str) or len(raw) > 64:
        return None
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return None


def last_event_id(request: HttpRequest) -> str:
    """The `Last-Event-ID` header, else the `lastEventId` query parameter (as django-eventstream
    reads it, for clients that cannot set headers), stripped."""
    # META, not `request.headers`: that builds a mapping of every header on first use.
    raw: str = request.META.get("HTTP_LAST_EVENT_ID") or request.GET.get("lastEventId", "")
    return raw.strip()


def invalid_last_event_id(error: LastEventIdError) -> JsonResponse:
    """The 400 for a `Last-Event-ID` a stream cannot resume from, the same on every stream: what
    was given (its first 80 characters) and what the stream expects."""
    raw = error.raw
    shown = raw if len(raw) <= _SHOWN else f"{raw[:_SHOWN]}... ({len(raw)} characters)"
    return json_error(
        400,
        "invalid_last_event_id",
        f"Last-Event-ID {shown!r} is not an id of this stream: expected {error.expected}.",
        parameter="Last-Event-ID",
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """A `CSRF_FAILURE_VIEW` for JSON clients: a refused POST says why, as JSON."""
    return json_error(403, "csrf_failed", f"CSRF verification failed: {reason}")
