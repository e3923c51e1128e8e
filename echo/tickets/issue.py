"""Issue and read stream tickets.

A ticket is `django.core.signing` over the user's primary key, the stream's path, an expiry, a
random id and a digest of the user's session hash: tampering breaks the signature, another path is
refused, and a changed password (a new session hash) ends every ticket of the user, as it ends
their sessions. It opens its stream any number of times until it expires: `EventSource`
reconnects with the same URL, so a one-use ticket would break every reconnect. A terminate of a
stream it opened revokes it (`echo.tickets.revoke`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from echo.sse.runtime.protocols import StreamView

from .conf import app_settings

__all__ = ["PARAMETER", "Claims", "Ticket", "TicketError", "issue_ticket", "read_ticket"]

PARAMETER = "ticket"
SALT = "echo.tickets"
# Well above a ticket's size (about 200 characters); a longer value is refused unread.
MAX_LENGTH = 1024


class TicketError(ValueError):
    """A ticket refused, or one that cannot be issued: `status`, `code` and `detail` are the
    JSON error's."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Ticket:
    value: str
    path: str
    expires_at: datetime

    @property
    def url(self) -> str:
        """The stream's path with the ticket, as `EventSource` opens it."""
        return f"{self.path}?{urlencode({PARAMETER: self.value})}"


@dataclass(frozen=True, slots=True)
class Claims:
    id: str
    user: Any
    path: str
    expires_at: datetime


def _auth_digest(user: AbstractBaseUser) -> str:
    # A digest of the session hash, not the hash itself: the page can read the ticket's payload.
    return salted_hmac(SALT, user.get_session_auth_hash(), algorithm="sha256").hexdigest()[:20]


def is_stream_path(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return isinstance(match.func, StreamView) and match.func.echo_stream_view


def stream_path(*, path: str | None, channels: list[str] | None) -> str:
    """The path a ticket is for: `path` itself, or the subscription to `channels`."""
    if (path is None) == (channels is None):
        raise TicketError(400, "invalid_parameter", "Give either a stream's path or its channels.")
    if channels is not None:
        try:
            path = reverse("echo_broadcast:events", kwargs={"channels": ",".join(channels)})
        except NoReverseMatch:
            raise TicketError(400, "invalid_parameter", "Not a subscription's channels.") from None
    assert path is not None
    if len(path) > 2000 or not is_stream_path(path):
        raise TicketError(400, "invalid_parameter", "A ticket is for a stream's path, and this is none.")
    return path


def issue_ticket(
    user: Any,
    *,
    path: str | None = None,
    channels: list[str] | None = None,
    lifetime: int | None = None,
) -> Ticket:
    """A ticket that opens the stream at `path` (or the subscription to `channels`) for `user`,
    for `lifetime` seconds (at most, and by default, `ECHO["TICKET_LIFETIME"]`)."""
    if not (user.is_authenticated and user.is_active):
        raise TicketError(403, "not_authenticated", "Only a signed-in user gets a ticket.")
    target = stream_path(path=path, channels=channels)
    longest = app_settings.TICKET_LIFETIME
    seconds = longest if lifetime is None else lifetime
    if not 1 <= seconds <= longest:
        raise TicketError(400, "invalid_parameter", f"A ticket's lifetime is 1 to {longest} seconds.")
    expires = int(time.time()) + seconds
    payload = {
        "u": str(user.pk),
        "p": target,
        "x": expires,
        "i": secrets.token_hex(16),
        "a": _auth_digest(user),
    }
    value = signing.dumps(payload, salt=SALT, compress=False)
    return Ticket(value, target, datetime.fromtimestamp(expires, UTC))


def _payload(value: str) -> dict[str, Any]:
    if len(value) > MAX_LENGTH:
        raise TicketError(400, "invalid_ticket", f"A ticket is at most {MAX_LENGTH} characters.")
    try:
        payload = signing.loads(value, salt=SALT)
    except signing.BadSignature:
        raise TicketError(403, "invalid_ticket", "This ticket was not issued here, or was altered.") from None
    keys = {"u": str, "p": str, "x": int, "i": str, "a": str}
    if not isinstance(payload, dict) or any(not isinstance(payload.get(k), t) for k, t in keys.items()):
        raise TicketError(403, "invalid_ticket", "This ticket was not issued here, or was altered.")
    return payload


def read_ticket(value: str, path: str) -> Claims:
    """The claims of `value` when it opens `path` now, with its user loaded; else TicketError.
    Revocation is the caller's to check (`echo.tickets.revoke.is_revoked`)."""
    payload = _payload(value)
    if payload["x"] <= time.time():
        raise TicketError(403, "ticket_expired", "This ticket has expired: ask for a new one.")
    if payload["p"] != path:
        raise TicketError(403, "ticket_wrong_stream", "This ticket is for another stream.")
    user = get_user_model()._default_manager.filter(pk=payload["u"]).first()
    if user is None or not user.is_active or not constant_time_compare(payload["a"], _auth_digest(user)):
        raise TicketError(403, "invalid_ticket", "This ticket's user can no longer sign in.")
    return Claims(payload["i"], user, payload["p"], datetime.fromtimestamp(payload["x"], UTC))
