"""System checks that turn a silent misconfiguration into a message with an id.

- `echo.E001`: `daphne` missing from `INSTALLED_APPS` or not first: `runserver` is then Django's
  WSGI server, which reads a stream to its end before sending anything.
- `echo.E002`: an `ECHO` setting that is unknown or of the wrong type.
- `echo.W001`: `GZipMiddleware` compresses event streams, and clients and proxies then hold events
  back until a compressed block fills.
- `echo.W002`: `EventStreamMiddleware` is missing: HEAD requests start the stream they should not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from pydantic import ValidationError

from .conf import EchoSettings, load

__all__ = ["check_daphne_first", "check_middleware", "check_settings"]

_GZIP = "django.middleware.gzip.GZipMiddleware"
_STREAM_MIDDLEWARE = "echo.sse.middleware.EventStreamMiddleware"


def _is_daphne(entry: str) -> bool:
    return entry == "daphne" or entry.startswith("daphne.")


def check_daphne_first(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    installed: list[str] = list(settings.INSTALLED_APPS)
    if installed and _is_daphne(installed[0]):
        return []
    where = "missing from" if not any(map(_is_daphne, installed)) else "not first in"
    return [
        Error(
            f"'daphne' is {where} INSTALLED_APPS.",
            hint="Put 'daphne' first in INSTALLED_APPS so that runserver serves ASGI and "
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
    try:
        load()
    except ValidationError as exc:
        return [
            Error(
                f"ECHO{''.join(f'[{part!r}]' for part in error['loc'])}: {error['msg']}.",
                hint=f"Known settings: {', '.join(EchoSettings.model_fields)}.",
                id="echo.E002",
            )
            for error in exc.errors()
        ]
    return []
