"""`TicketMiddleware`: a valid `?ticket=` on a stream's GET stands in for the session.

After `AuthenticationMiddleware` (`echo.W014` says so): it replaces `request.user` and
`request.auser` with the ticket's user for this request only, so the stream's own rules (a
broadcast channel's `read` rule) then judge that user. A ticket that does not open this path now
is a JSON 4xx, whatever session the request also carries. Other methods and other paths are not
its business: a ticket there authenticates nothing, and is left alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from echo.sse import json_error

from .issue import PARAMETER, TicketError, is_stream_path, read_ticket
from .revoke import META_KEY, is_revoked

__all__ = ["TicketMiddleware"]

_METHODS = ("GET", "HEAD")


def _wants_ticket(request: HttpRequest) -> bool:
    # A `ticket` parameter elsewhere (a support ticket's page) is the site's own business.
    return PARAMETER in request.GET and request.method in _METHODS and is_stream_path(request.path_info)


def admit(request: HttpRequest) -> HttpResponseBase | None:
    """None with the ticket's user set on `request`, or the JSON refusal."""
    values = request.GET.getlist(PARAMETER)
    if len(values) != 1:
        return json_error(400, "invalid_ticket", "Give one ticket.")
    try:
        claims = read_ticket(values[0], request.path)
        if is_revoked(claims.id):
            raise TicketError(403, "ticket_revoked", "A stream this ticket opened was terminated.")
    except TicketError as refused:
        return json_error(refused.status, refused.code, refused.detail)
    user = claims.user

    async def auser() -> Any:
        return user

    request.user = user
    request.auser = auser
    request.META[META_KEY] = (claims.id, claims.expires_at)
    return None


@sync_and_async_middleware
def TicketMiddleware(  # named as a class: a site lists it in MIDDLEWARE as one
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], Any]:
    if iscoroutinefunction(get_response):

        async def middleware_async(request: HttpRequest) -> HttpResponseBase:
            if _wants_ticket(request):
                # In a thread: the ticket's user and revocation are read from the database.
                refusal = await sync_to_async(admit)(request)
                if refusal is not None:
                    return refusal
            response: Awaitable[HttpResponseBase] = get_response(request)
            return await response

        return middleware_async

    def middleware(request: HttpRequest) -> HttpResponseBase:
        if _wants_ticket(request):
            refusal = admit(request)
            if refusal is not None:
                return refusal
        result: HttpResponseBase = get_response(request)
        return result

    return middleware
