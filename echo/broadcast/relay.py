"""Redis pub/sub between processes: each published event goes to every process's hub.

Used when `ECHO["REDIS_URL"]` is set. Storage still gives the ids; the relay only carries the
news that an event exists, and a hub that misses one finds it in storage (a gap, or the poll).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .conf import app_settings
from .published import Published

__all__ = ["CHANNEL", "Relay", "listen", "publish", "relay"]

logger = logging.getLogger("echo.broadcast.relay")

CHANNEL = "echo.broadcast"


class Relay:
    """This process's publishing connection to Redis, made on first use."""

    def __init__(self) -> None:
        self._client: Any = None
        self._url = ""

    def reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def publish(self, item: Published) -> None:
        url = app_settings.REDIS_URL
        if not url:
            return
        if self._client is None or self._url != url:
            import redis

            self.reset()
            self._client = redis.Redis.from_url(url)
            self._url = url
        self._client.publish(CHANNEL, item.to_json())


relay = Relay()
publish = relay.publish


async def listen(deliver: Callable[[Published], None]) -> None:
    """Hand every event other processes publish to `deliver`, until cancelled."""
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(app_settings.REDIS_URL)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(CHANNEL)
        async for message in pubsub.listen():
            if message.get("type") == "message":
                try:
                    deliver(Published.from_json(message["data"]))
                except (ValueError, KeyError, TypeError):
                    logger.warning("Ignoring a malformed relay message")
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
