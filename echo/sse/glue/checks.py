"""The toolkit's system checks: a silent misconfiguration becomes a message with an id.

- `echo.E001`: `daphne` (or `echo.server`) is installed but not first in `INSTALLED_APPS`:
  `runserver` is then the command of an app listed earlier (staticfiles, or Django's own), which
  buffers streams.
- `echo.E002`: an `ECHO` setting that no installed package declares, or of the wrong type.
- `echo.E003`: Daphne's `runserver` is installed and `ASGI_APPLICATION` is not set: it cannot start.
- `echo.W001`: `GZipMiddleware` compresses event streams, and clients and proxies then hold events
  back until a compressed block fills.
- `echo.W002`: `EventStreamMiddleware` is missing: HEAD requests start the stream they should not.
- `echo.W003`: neither `echo.server` nor `daphne` is installed: `runserver` is Django's WSGI
  server, which reads a stream to its end before sending anything (a warning: a site served by
  uvicorn or another ASGI server may not use `runserver` at all).
- `echo.W004`: `ASGI_APPLICATION` is Django's stock handler, not echo's: every open stream holds
  an OS thread, and the slow-client timeout and the broadcast hub's direct writes are off.

The features add their own (`echo.broadcast.checks`, `echo.sessions.checks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string
from pydantic import ValidationError

from ..conf import Section, raw, sections

__all__ = ["check_asgi_application", "check_daphne_first", "check_middleware", "check_settings"]

_GZIP = "django.middleware.gzip.GZipMiddleware"
_STREAM_MIDDLEWARE = "echo.sse.middleware.EventStreamMiddleware"


# Apps whose `runserver` is Daphne's: Daphne itself, and echo's server adapter (a subclass).
def _is_daphne(entry: str) -> bool:
    return entry in ("daphne", "echo.server") or entry.startswith(("daphne.", "echo.server."))


def check_daphne_first(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    installed: list[str] = list(settings.INSTALLED_APPS)
    if installed and _is_daphne(installed[0]):
        return []
    if any(map(_is_daphne, installed)):
        return [
            Error(
                "'daphne' (or 'echo.server') is not first in INSTALLED_APPS.",
                hint="Put 'echo.server' (or 'daphne') first in INSTALLED_APPS, before "
                "'django.contrib.staticfiles'. Django runs the runserver command of the first app "
                "that has one, and any but Daphne's sends a stream only once it has ended.",
                id="echo.E001",
            )
        ]
    return [
        Warning(
            "Neither 'echo.server' nor 'daphne' is in INSTALLED_APPS: runserver is Django's WSGI "
            "server, which sends an event stream only once it has ended.",
            hint="Put 'echo.server', 'daphne' first in INSTALLED_APPS. A site served only by another "
            "ASGI server (uvicorn) may silence this with SILENCED_SYSTEM_CHECKS = ['echo.W003'].",
            id="echo.W003",
        )
    ]


def check_asgi_application(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        if any(map(_is_daphne, settings.INSTALLED_APPS)):
            return [
                Error(
                    "ASGI_APPLICATION is not set: Daphne's runserver cannot start.",
                    hint="Set ASGI_APPLICATION to your project's ASGI application, e.g. "
                    "'mysite.asgi.application', built with echo.sse.asgi.get_asgi_application().",
                    id="echo.E003",
                )
            ]
        return []
    try:
        application = import_string(str(path))
    except Exception:  # noqa: BLE001 - reported elsewhere
        # What stops the application from being built is said by its own check (a bad ECHO
        # setting: echo.E002) or by the server as it starts: this check has nothing to look at.
        return []
    if _serves_http_with_echo(application):
        return []
    return [
        Warning(
            f"ASGI_APPLICATION {path!r} does not serve HTTP with echo's handler: every open stream "
            "holds an OS thread, and SLOW_CLIENT_TIMEOUT and the broadcast hub's direct writes are off.",
            hint="Build the application with echo.sse.asgi.get_asgi_application() in place of "
            "django.core.asgi.get_asgi_application() (inside channels' ProtocolTypeRouter too, as its "
            "'http' entry).",
            id="echo.W004",
        )
    ]


@runtime_checkable
class _ProtocolRouter(Protocol):
    """channels' `ProtocolTypeRouter`: an application per scope type."""

    application_mapping: Mapping[str, Any]


@runtime_checkable
class _Wrapper(Protocol):
    """A wrapper that keeps the application it wraps (staticfiles' handler, WhiteNoise's ASGI)."""

    application: Any


def _serves_http_with_echo(application: Any) -> bool:
    from .asgi import ASGIHandler

    # Unwrapped one level at a time: a protocol router's "http" entry, a wrapper's application.
    seen = 0
    while application is not None and seen < 8:
        if isinstance(application, ASGIHandler):
            return True
        if isinstance(application, _ProtocolRouter) and isinstance(application.application_mapping, Mapping):
            application = application.application_mapping.get("http")
        elif isinstance(application, _Wrapper):
            application = application.application
        else:
            application = None
        seen += 1
    return False


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
