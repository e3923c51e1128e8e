"""`settings_small_buffer` without direct writes: the hub queues every event for its subscribers."""

from tests.settings_small_buffer import *  # noqa: F403

ECHO = {"BROADCAST_BUFFER": 5, "DAPHNE_DIRECT_WRITES": False}
