"""Credentials kept out of what is stored or logged of a request's query string.

`EventSource` cannot send headers, so browser code puts its token in the URL (`?token=...`).
What echo records of a query (a session row, an access log line) keeps every parameter and its
name, and replaces the value of a parameter whose name looks like a credential with `[redacted]`:
`token=abc&message=hi` is kept as `token=[redacted]&message=hi`.

A name looks like a credential when, lowercased, it or one of its words is in the list given
(`SECRET_QUERY_PARAMETERS`, `SECRET_NAMES` by default). Its words are what lies between
characters other than letters and digits, and a lower-case letter or a digit followed by a
capital starts a new word: `access_token`, `X-Amz-Signature` and `apiKey` match through `token`,
`signature` and `key`; `monkey` and `keys` do not. Only whole words match, so a list names what
it means, and a name that is one word (`apikey`, `sessionid`) is listed as such.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

__all__ = ["REDACTED", "SECRET_NAMES", "is_secret", "redact_query", "redact_target"]

REDACTED = "[redacted]"

SECRET_NAMES: tuple[str, ...] = (
    "apikey",
    "auth",
    "authorization",
    "code",
    "credential",
    "credentials",
    "csrfmiddlewaretoken",
    "jwt",
    "key",
    "passwd",
    "password",
    "pwd",
    "secret",
    "session",
    "sessionid",
    "sig",
    "signature",
    "ticket",
    "token",
)

_WORD_BREAK = re.compile(r"[^0-9A-Za-z]+|(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=8)
def _lowered(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name.lower() for name in names)


@functools.lru_cache(maxsize=256)
def _words(name: str) -> tuple[str, ...]:
    return (name.lower(), *(word.lower() for word in _WORD_BREAK.split(name) if word))


def is_secret(name: str, names: Iterable[str] = SECRET_NAMES) -> bool:
    """Whether a parameter called `name` (decoded) holds a credential, by `names`."""
    secret = _lowered(tuple(names))
    return any(word in secret for word in _words(name))


def redact_query(query: str, names: Iterable[str] = SECRET_NAMES) -> str:
    """`query` (a raw query string, as `QUERY_STRING` holds it) with the value of each secret
    parameter replaced by `REDACTED`; everything else is kept byte for byte."""
    if "=" not in query:
        return query
    secret = tuple(names)
    if not secret:
        return query
    parts = query.split("&")
    changed = False
    for index, part in enumerate(parts):
        name, equals, value = part.partition("=")
        if equals and value and is_secret(unquote_plus(name), secret):
            parts[index] = f"{name}={REDACTED}"
            changed = True
    return "&".join(parts) if changed else query


def redact_target(target: str, names: Iterable[str] = SECRET_NAMES) -> str:
    """A request target (`/path?query`, as an access log line shows it) with its query redacted."""
    path, mark, query = target.partition("?")
    return f"{path}?{redact_query(query, names)}" if mark else target
