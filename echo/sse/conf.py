"""Settings: one `ECHO` dict, read in sections, each section owned by the package that uses it.

A package declares the keys it reads as a `Section` (a frozen Pydantic model) and reads them
through `lazy(MySection)`: nothing is read at import time, the validated values are cached until
Django's `setting_changed` signal names `ECHO`, so `override_settings` works in tests. Every
declared section is known to `check_settings` (`echo.E002`), which also reports keys that no
installed package declares. This module declares the toolkit's own section.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, TypeVar, cast

from django.conf import settings
from django.core.signals import setting_changed
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Section", "SseSettings", "app_settings", "lazy", "raw", "sections"]

S = TypeVar("S", bound="Section")

_sections: list[type[Section]] = []


class Section(BaseModel):
    """Keys of `ECHO` that one package reads; a subclass is registered for the settings check."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)
    # The package that declares the section, named in the check's messages.
    owner: ClassVar[str] = ""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls not in _sections:
            _sections.append(cls)


def sections() -> list[type[Section]]:
    """Every declared section, in the order their modules were imported."""
    return list(_sections)


def raw() -> Any:
    """`settings.ECHO` as given (a dict when it is right)."""
    return getattr(settings, "ECHO", {})


@functools.cache
def _load(section: type[S]) -> S:
    given = raw()
    # A wrong type of ECHO itself is the check's to report; the sections then read defaults.
    return section.model_validate(given if isinstance(given, Mapping) else {})


class _Lazy:
    __slots__ = ("_section",)

    def __init__(self, section: type[Section]) -> None:
        self._section = section

    def __getattr__(self, name: str) -> Any:
        return getattr(_load(self._section), name)


def lazy(section: type[S]) -> S:
    """A stand-in for `section`'s values that reads `ECHO` on first use and after each change."""
    return cast(S, _Lazy(section))


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == "ECHO":
        _load.cache_clear()


setting_changed.connect(_reset, dispatch_uid="echo.sse.conf")


class SseSettings(Section):
    owner: ClassVar[str] = "echo.sse"

    # Seconds a stream may stay silent before a keep-alive comment; None turns pings off.
    PING_INTERVAL: Annotated[float, Field(gt=0)] | None = 15.0
    # Reconnection delay (ms) sent as `retry:` when a stream opens; None sends none.
    RETRY: Annotated[int, Field(ge=0)] | None = None
    # A stream whose source raises ends with a final `event: error` (no details) when True; its
    # body ends either way.
    ERROR_EVENT: bool = True
    # Reconnection hint (ms) on the final event of a stream ended by an operator or a shutdown.
    FINAL_RETRY: Annotated[int, Field(ge=0)] = 3000
    # At a shutdown each stream's hint is FINAL_RETRY plus a random part of this window (ms), so
    # that the clients of a restarted process do not all come back in the same moment.
    FINAL_RETRY_SPREAD: Annotated[int, Field(ge=0, le=600_000)] = 5000
    # On SIGTERM or SIGINT, end streams with a final event before the server stops.
    GRACEFUL_SHUTDOWN: bool = True
    SHUTDOWN_GRACE: Annotated[float, Field(gt=0, le=60)] = 5.0
    # A stream whose client reads nothing for this many seconds while the server has a full
    # send buffer for it ends, recorded as `slow_client` (under echo's handler).
    SLOW_CLIENT_TIMEOUT: Annotated[float, Field(gt=0)] = 30.0
    # Open streams one process serves, and one client address may hold; more are refused at
    # once (503 and 429, with Retry-After) by EventStreamMiddleware. None: no limit.
    MAX_STREAMS: Annotated[int, Field(ge=1)] | None = 20_000
    MAX_STREAMS_PER_CLIENT: Annotated[int, Field(ge=1)] | None = 200
    # Threads kept by echo.sse.glue.asgi.ASGIHandler for the sync parts of requests.
    SYNC_THREADS: Annotated[int, Field(ge=1, le=1024)] = 16
    # Once the ASGI application is set up, freeze what is loaded out of the cyclic collector's
    # view, and set its thresholds: with thousands of open streams the default thresholds mean
    # frequent collections that walk every stream's objects (docs/performance.md).
    GC_FREEZE: bool = True
    GC_THRESHOLD: Annotated[
        tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]] | None,
        Field(strict=False),
    ] = (10_000, 10, 10)


app_settings: SseSettings = lazy(SseSettings)
