"""The demo's channel: the live page's chat, which anyone may read and publish to."""

from __future__ import annotations

__all__ = ["DEMO_CHANNEL"]

DEMO_CHANNEL = "demo"
