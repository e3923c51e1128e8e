"""Test settings with progress written every 0.2 s, for live tests that watch a row move."""

from tests.settings import *  # noqa: F403

ECHO = {**ECHO, "SESSION_PROGRESS_INTERVAL": 0.2}  # noqa: F405
