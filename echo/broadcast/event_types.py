"""The event types a channel may carry by name: what `manage.py publish` validates against."""

from __future__ import annotations

from typing import Any

from echo.sse import BaseEvent

__all__ = ["event_types", "register_event_type"]

_event_types: dict[str, type[BaseEvent[Any]]] = {}


def register_event_type(*classes: type[BaseEvent[Any]]) -> None:
    """Make event types known to `manage.py publish` (call it from an `AppConfig.ready()`)."""
    for cls in classes:
        known = _event_types.get(cls.event_name)
        if known is not None and known is not cls:
            raise ValueError(
                f"event name {cls.event_name!r} is taken by {known.__module__}.{known.__qualname__}"
            )
        _event_types[cls.event_name] = cls


def event_types() -> dict[str, type[BaseEvent[Any]]]:
    """The registered event types, by event name."""
    return dict(_event_types)
