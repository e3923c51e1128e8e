"""System checks that turn a silent misconfiguration into a message with an id.

- `echo.E001`: neither `echo.server` nor `daphne` first in `INSTALLED_APPS`: `runserver` is then
  Django's WSGI server, which reads a stream to its end before sending anything.
- `echo.E002`: an `ECHO` setting that no installed package declares, or of the wrong type.
- `echo.W001`: `GZipMiddleware` compresses event streams, and clients and proxies then hold events
  back until a compressed block fills.
- `echo.W002`: `EventStreamMiddleware` is missing: HEAD requests start the stream they should not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from pydantic import ValidationError

from .conf import Section, raw, sections

__all__ = ["check_daphne_first", "check_middleware", "check_settings"]

_GZIP = "django.middleware.gzip.GZipMiddleware"
_STREAM_MIDDLEWARE = "echo.sse.middleware.EventStreamMiddleware"


# Apps whose `runserver` is Daphne's: Daphne itself, and echo's server adapter (a subclass).
def _is_daphne(entry: str) -> bool:
    return entry in ("daphne", "echo.server") or entry.startswith(("daphne.", "echo.server."))


def check_daphne_first(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    installed: list[str] = list(settings.INSTALLED_APPS)
    if installed and _is_daphne(installed[0]):
        return []
    where = "missing from" if not any(map(_is_daphne, installed)) else "not first in"
    return [
        Error(
            f"'daphne' (or 'echo.server') is {where} INSTALLED_APPS.",
            hint="Put 'echo.server' (or 'daphne') first in INSTALLED_APPS so that runserver serves ASGI and "
            "streams events as they happen instead of buffering the whole response.",
            id="echo.E001",
        )
    ]


def check_middleware(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    middleware: list[str] = list(getattr(settings, "MIDDLEWARE", None) or [])
    messages: list[CheckMessage] = []
    if _GZIP in middleware:
        messages.append(
            Warning(
                "GZipMiddleware is enabled: compressed event streams reach clients late.",
                hint=f"Remove {_GZIP!r} from MIDDLEWARE, or exempt stream views from it.",
                id="echo.W001",
            )
        )
    if _STREAM_MIDDLEWARE not in middleware:
        messages.append(
            Warning(
                "EventStreamMiddleware is not in MIDDLEWARE: a HEAD request starts the stream.",
                hint=f"Add {_STREAM_MIDDLEWARE!r} to MIDDLEWARE.",
                id="echo.W002",
            )
        )
    return messages


def check_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    given = raw()
    if not isinstance(given, Mapping):
        return [
            Error(f"ECHO must be a dict, not {type(given).__name__}.", id="echo.E002"),
        ]
    messages: list[CheckMessage] = []
    known: dict[str, str] = {}
    for section in sections():
        for name in section.model_fields:
            known[name] = section.owner
        try:
            section.model_validate(given)
        except ValidationError as exc:
            messages.extend(_setting_error(section, error) for error in exc.errors())
    for name in given:
        if name not in known:
            messages.append(
                Error(
                    f"ECHO[{name!r}] is not a setting of any installed echo package.",
                    hint=f"Known settings: {', '.join(sorted(known))}.",
                    id="echo.E002",
                )
            )
    return messages


def _setting_error(section: type[Section], error: Any) -> Error:
    location = "".join(f"[{part!r}]" for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    return Error(
        f"ECHO{location}: {message} (given {given!r}).",
        hint=f"A setting of {section.owner}, whose settings are: {', '.join(section.model_fields)}.",
        id="echo.E002",
    )
