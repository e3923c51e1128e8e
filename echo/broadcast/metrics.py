"""Broadcast's counts in the process's stats (`echo.sse.runtime.stats`), labelled by declared channel.

A channel is counted under its declaration (`user-{id}`, not `user-42`): the series stay as many
as the site declares, however many channels clients open.
"""

from __future__ import annotations

from echo.sse.runtime.stats import counter, histogram

from .channels import find_channel

__all__ = ["catch_ups", "deliveries", "label", "lag", "published"]

UNDECLARED = "undeclared"

published = counter(
    "echo_broadcast_published", "Events published from this process, by declared channel.", ("channel",)
)
deliveries = counter(
    "echo_broadcast_deliveries",
    "Events handed to subscribers in this process (one per subscriber), by declared channel.",
    ("channel",),
)
lag = histogram(
    "echo_broadcast_lag_seconds",
    "Seconds from publish to this process's subscribers, for events announced by their publisher "
    "(here, Redis or NOTIFY); events found by the storage poll are counted as catch-ups.",
    ("channel",),
)
catch_ups = counter(
    "echo_broadcast_catchups",
    "Reads of missed events from storage (poll, gap, reconnect), by declared channel.",
    ("channel",),
)


def label(channel: str) -> str:
    spec = find_channel(channel)
    return UNDECLARED if spec is None else spec.pattern
