"""Redis pub/sub between processes: each published event goes to every process's hub.

Used when `ECHO["REDIS_URL"]` is set. Storage still gives the ids; the relay only carries the
news that an event exists, and a hub that misses one finds it in storage (a gap, or the poll).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from .conf import app_settings
from .exceptions import RelayUnavailable
from .published import Published

__all__ = [
    "CHANNEL",
    "MISSING_PACKAGE",
    "Relay",
    "listen",
    "publish",
    "publish_many",
    "redis_installed",
    "relay",
]

logger = logging.getLogger("echo.broadcast.relay")

CHANNEL = "echo.broadcast"
_CONNECT_TIMEOUT = 2.0
MISSING_PACKAGE = (
    "the redis package is not installed: pip install 'redis>=5' 'channels-redis>=4.2' (echo's [redis] extra)"
)
# Seconds between attempts to reach Redis again after the listener lost it, doubling up to the last.
_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)


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
        """Tell the other processes; `RelayUnavailable` when Redis cannot be reached."""
        self.publish_many([item])

    def publish_many(self, items: Sequence[Published]) -> None:
        """`publish` for each of `items`, in order, in one round trip (a pipeline)."""
        url = app_settings.REDIS_URL
        if not url or not items:
            return
        try:
            import redis
        except ImportError:
            raise RelayUnavailable(MISSING_PACKAGE) from None

        if self._client is None or self._url != url:
            self.reset()
            self._client = redis.Redis.from_url(url, socket_connect_timeout=_CONNECT_TIMEOUT)
            self._url = url
        try:
            if len(items) == 1:
                self._client.publish(CHANNEL, items[0].to_json())
                return
            with self._client.pipeline(transaction=False) as pipe:
                for item in items:
                    pipe.publish(CHANNEL, item.to_json())
                pipe.execute()
        except redis.RedisError as exc:
            raise RelayUnavailable(f"could not reach Redis at {url}: {exc}") from None


def redis_installed() -> bool:
    try:
        import redis  # noqa: F401
    except ImportError:
        return False
    return True


relay = Relay()
publish = relay.publish
publish_many = relay.publish_many


def _received(message: dict[str, Any], deliver: Callable[[Published], None]) -> None:
    if message.get("type") != "message":
        return  # a subscription's confirmation
    try:
        deliver(Published.from_json(message["data"]))
    except (ValueError, KeyError, TypeError):
        logger.warning("Ignoring a malformed relay message")


async def listen(deliver: Callable[[Published], None]) -> None:
    """Hand every event other processes publish to `deliver`, until cancelled.

    Redis going away is one warning, then quiet retries (doubling, up to 15 s apart) and one line
    when it is back; events published meanwhile reach this process through the storage poll.
    Without the redis package there is nothing to listen with: one error (`echo.E005` says so
    before start-up), and the storage poll goes on.
    """
    if not redis_installed():
        logger.error("Not listening to Redis at %s: %s", app_settings.REDIS_URL, MISSING_PACKAGE)
        return
    import redis
    import redis.asyncio as aredis

    attempt = 0
    while True:
        client = aredis.Redis.from_url(app_settings.REDIS_URL, socket_connect_timeout=_CONNECT_TIMEOUT)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(CHANNEL)
            if attempt:
                logger.info("Reached Redis at %s again", app_settings.REDIS_URL)
            attempt = 0
            async for message in pubsub.listen():
                _received(message, deliver)
        except (redis.RedisError, OSError) as exc:
            if attempt == 0:
                logger.warning(
                    "Lost Redis at %s (%s: %s); retrying", app_settings.REDIS_URL, type(exc).__name__, exc
                )
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()
        await asyncio.sleep(_RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)])
        attempt += 1
