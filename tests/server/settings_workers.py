"""The suite's settings without its in-memory channel layer (one per process): the control bus
then takes the sessions' database's way between processes, as a site with no layer does."""

from typing import Any

from tests.settings import *  # noqa: F403

CHANNEL_LAYERS: dict[str, Any] = {}
