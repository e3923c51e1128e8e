"""Test settings with a broadcast buffer of 5, for live tests that make a subscriber fall behind."""

from tests.settings import *  # noqa: F403

ECHO = {**ECHO, "BROADCAST_BUFFER": 5}  # noqa: F405
