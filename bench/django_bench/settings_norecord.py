"""The bench settings with session recording off: the other side of the recording-cost scenario."""

from django_bench.settings import *  # noqa: F403

ECHO = {**ECHO, "RECORD_SESSIONS": False}  # noqa: F405
