"""`settings_small_buffer` without direct sends: the hub queues every event for its subscribers."""

from tests.settings_small_buffer import *  # noqa: F403

ECHO = {**ECHO, "DAPHNE_DIRECT_SEND": False}  # noqa: F405
