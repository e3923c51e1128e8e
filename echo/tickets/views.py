"""`POST` a stream's path (or channels), signed in: a ticket that opens it from another origin."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse

from echo.sse import json_error
from echo.sse.glue.http import method_not_allowed

from .issue import TicketError, issue_ticket

__all__ = ["issue"]

_MAX_BODY = 4096


def _fields(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body)
        except ValueError:
            raise TicketError(400, "invalid_body", "The body is not JSON.") from None
        if not isinstance(data, dict):
            raise TicketError(400, "invalid_body", "The body is not a JSON object.")
        return data
    fields: dict[str, Any] = {key: request.POST[key] for key in ("path", "lifetime") if key in request.POST}
    if "channels" in request.POST:
        fields["channels"] = request.POST["channels"].split(",")
    return fields


def _arguments(data: dict[str, Any]) -> dict[str, Any]:
    path, channels, lifetime = data.get("path"), data.get("channels"), data.get("lifetime")
    if path is not None and not isinstance(path, str):
        raise TicketError(400, "invalid_parameter", "`path` is a string.")
    if channels is not None and not (
        isinstance(channels, list) and all(isinstance(c, str) for c in channels)
    ):
        raise TicketError(400, "invalid_parameter", "`channels` is a list of channel names.")
    if isinstance(lifetime, str) and lifetime.isascii() and lifetime.isdigit() and len(lifetime) < 7:
        lifetime = int(lifetime)
    if lifetime is not None and (isinstance(lifetime, bool) or not isinstance(lifetime, int)):
        raise TicketError(400, "invalid_parameter", "`lifetime` is a whole number of seconds.")
    return {"path": path, "channels": channels, "lifetime": lifetime}


def issue(request: HttpRequest) -> HttpResponseBase:
    """`{"path": "/events/user-1/"}` or `{"channels": ["user-1"]}` (JSON or a form), and an
    optional shorter `lifetime`: `{"ticket", "url", "path", "expires_at"}`. CSRF-protected, as
    any POST: the page sends `X-CSRFToken`."""
    if request.method != "POST":
        return method_not_allowed(request, ("POST",))
    if int(request.headers.get("content-length") or 0) > _MAX_BODY:
        return json_error(413, "too_large", f"A ticket request is at most {_MAX_BODY} bytes.")
    try:
        ticket = issue_ticket(request.user, **_arguments(_fields(request)))
    except TicketError as refused:
        return json_error(refused.status, refused.code, refused.detail)
    response = JsonResponse(
        {
            "ticket": ticket.value,
            "url": ticket.url,
            "path": ticket.path,
            "expires_at": ticket.expires_at.isoformat(),
        }
    )
    response["Cache-Control"] = "no-store"  # a credential: no cache may keep it
    return response
