"""Stream sessions' system checks (see `echo.sse.glue.checks` for the toolkit's).

- `echo.E006`: `ECHO["REDIS_URL"]` is set, the site has no `CHANNEL_LAYERS`, and `channels_redis`
  is missing (the `[redis]` extra): the control bus cannot reach the other processes.
- `echo.W007`: `ECHO["REDIS_URL"]` is set (several processes) and the site's default channel
  layer is in-memory: a terminate from the admin reaches only the process that handles it.
- `echo.W008`: a database has `CONN_MAX_AGE` other than 0 while sessions are recorded: under ASGI
  each of the writer's and the request threads' connections would be kept past its use, and
  Django closes persistent connections only around requests it runs on the same thread.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from .conf import app_settings

__all__ = ["check_channel_layer", "check_connections"]

_IN_MEMORY = "channels.layers.InMemoryChannelLayer"


def check_channel_layer(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if not app_settings.REDIS_URL:
        return []
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    default = layers.get("default")
    if default is None:
        if importlib.util.find_spec("channels_redis") is None:
            return [
                Error(
                    "ECHO['REDIS_URL'] is set and channels_redis is not installed: terminate requests "
                    "from the admin cannot reach other processes.",
                    hint="pip install 'redis>=5' 'channels-redis>=4.2' (echo's [redis] extra).",
                    id="echo.E006",
                )
            ]
        return []
    if default.get("BACKEND") == _IN_MEMORY:
        return [
            Warning(
                "ECHO['REDIS_URL'] is set and the default channel layer is in-memory: a terminate from "
                "the admin reaches only the process that handles it.",
                hint="Use channels_redis.core.RedisChannelLayer for CHANNEL_LAYERS['default'], or remove "
                "CHANNEL_LAYERS: echo then carries terminate requests over REDIS_URL itself.",
                id="echo.W007",
            )
        ]
    return []


def check_connections(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if not app_settings.RECORD_SESSIONS:
        return []
    # None is Django's "unlimited persistent connections".
    kept = sorted(alias for alias, config in settings.DATABASES.items() if config.get("CONN_MAX_AGE", 0) != 0)
    if not kept:
        return []
    return [
        Warning(
            f"CONN_MAX_AGE is not 0 for database(s) {', '.join(kept)} while stream sessions are recorded: "
            "under ASGI, connections opened by the session writer and the request threads are kept open "
            "past their use.",
            hint="Set CONN_MAX_AGE to 0 (Django's default) and use a pooler (PgBouncer, or the backend's "
            "own pool) for connection reuse.",
            id="echo.W008",
        )
    ]
