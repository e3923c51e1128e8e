"""Test settings without the storage poll: a process hears of events published elsewhere only
through Redis (`REDIS_URL`), so a test that sees such an event knows how it travelled."""

from tests.settings import *  # noqa: F403

ECHO = {**ECHO, "BROADCAST_POLL_INTERVAL": None}  # noqa: F405
