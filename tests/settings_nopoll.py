"""Test settings without the storage poll or PostgreSQL notifications: a process hears of events
published elsewhere only through Redis (`REDIS_URL`), so a test that sees such an event knows how
it travelled."""

from tests.settings import *  # noqa: F403

ECHO = {**ECHO, "BROADCAST_POLL_INTERVAL": None, "BROADCAST_NOTIFY": False}  # noqa: F405
