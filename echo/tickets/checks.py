"""Stream tickets' system checks.

- `echo.E010`: `ECHO["STREAM_ORIGINS"]` is set and django-cors-headers (`corsheaders`) is not
  installed: no origin gets CORS headers, so their pages cannot read the streams.
- `echo.W013`: `ECHO["STREAM_ORIGINS"]` is set and `corsheaders.middleware.CorsMiddleware` is not
  in `MIDDLEWARE`: the same, silently.
- `echo.W014`: `TicketMiddleware` is missing from `MIDDLEWARE`, or comes before
  `AuthenticationMiddleware` (which would put the session's user back): tickets open nothing.
- `echo.W015`: `ECHO["SECRET_QUERY_PARAMETERS"]` does not cover `ticket`: tickets would be stored
  in session rows and written in the access log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from echo.sse.conf import raw
from echo.sse.glue.redact import SECRET_NAMES, is_secret

from .conf import app_settings
from .issue import PARAMETER

__all__ = ["check_cors", "check_middleware", "check_redacted"]

CORS_MIDDLEWARE = "corsheaders.middleware.CorsMiddleware"
TICKET_MIDDLEWARE = "echo.tickets.middleware.TicketMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"


def check_cors(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if not app_settings.STREAM_ORIGINS:
        return []
    if not apps.is_installed("corsheaders"):
        return [
            Error(
                "ECHO['STREAM_ORIGINS'] is set and django-cors-headers is not installed: pages on those "
                "origins cannot read the streams.",
                hint="pip install django-cors-headers; add 'corsheaders' to INSTALLED_APPS and "
                f"'{CORS_MIDDLEWARE}' to MIDDLEWARE.",
                id="echo.E010",
            )
        ]
    if CORS_MIDDLEWARE not in settings.MIDDLEWARE:
        return [
            Warning(
                f"ECHO['STREAM_ORIGINS'] is set and '{CORS_MIDDLEWARE}' is not in MIDDLEWARE: pages on "
                "those origins cannot read the streams.",
                hint="Add it as high in MIDDLEWARE as it can go, before CommonMiddleware.",
                id="echo.W013",
            )
        ]
    return []


def check_middleware(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    middleware = list(settings.MIDDLEWARE)
    auth = middleware.index(AUTH_MIDDLEWARE) if AUTH_MIDDLEWARE in middleware else -1
    if TICKET_MIDDLEWARE in middleware and middleware.index(TICKET_MIDDLEWARE) > auth:
        return []
    return [
        Warning(
            f"'{TICKET_MIDDLEWARE}' is not in MIDDLEWARE after AuthenticationMiddleware: stream tickets "
            "open nothing.",
            hint="Add it right after 'django.contrib.auth.middleware.AuthenticationMiddleware'.",
            id="echo.W014",
        )
    ]


def check_redacted(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    given = raw()
    names = given.get("SECRET_QUERY_PARAMETERS", SECRET_NAMES) if isinstance(given, Mapping) else SECRET_NAMES
    if not isinstance(names, list | tuple) or is_secret(PARAMETER, [str(name) for name in names]):
        return []  # a wrong type is echo.E002's to name
    return [
        Warning(
            f"ECHO['SECRET_QUERY_PARAMETERS'] does not cover '{PARAMETER}': stream tickets would be "
            "recorded in session rows and the access log.",
            hint=f"Add '{PARAMETER}' to it.",
            id="echo.W015",
        )
    ]
