"""Declared channels: the event types each broadcast channel, or pattern of channels, carries.

`declare_channel("news", Headline)` or `declare_channel("user-{id}", Notice)`, from an
`AppConfig.ready()`. `publish()` refuses a channel that matches no declaration, or an event type
its declaration does not list, before anything is stored; the subscription view answers an
undeclared channel with a JSON 404; `manage.py publish` and the schema (`echo.contract`) read the
declarations. A name is matched against the exact declarations first, then against the patterns
in the order they were declared. A `{param}` stands for one or more channel-name characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from echo.sse import BaseEvent
from echo.sse.control import StreamFailed, StreamOpen, StreamReset

from .access import CHANNEL_NAME
from .exceptions import UndeclaredChannel, UndeclaredEvent

__all__ = [
    "SUBSCRIPTION_EVENTS",
    "ChannelSpec",
    "declare_channel",
    "declared_channels",
    "find_channel",
    "require_declared",
]

# What a subscription sends besides its channels' events.
SUBSCRIPTION_EVENTS: tuple[type[BaseEvent[Any]], ...] = (StreamOpen, StreamReset, StreamFailed)

_PARAM = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_PARAM_VALUE = r"[A-Za-z0-9_.-]+"


@dataclass(frozen=True)
class ChannelSpec:
    """One declaration: a channel name or pattern, the event types it carries."""

    pattern: str
    events: tuple[type[BaseEvent[Any]], ...]
    description: str = ""
    params: tuple[str, ...] = field(default=(), init=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        params = tuple(_PARAM.findall(self.pattern))
        parts = _PARAM.split(self.pattern)
        # split() alternates literal text and parameter names.
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_PARAM_VALUE})" for i, part in enumerate(parts)
        )
        literal = _PARAM.sub("x", self.pattern)
        if not CHANNEL_NAME.fullmatch(literal) or len(set(params)) != len(params):
            raise ValueError(f"not a channel name or pattern: {self.pattern!r}")
        if not self.events:
            raise TypeError(f"channel {self.pattern!r} declares no event type")
        names: dict[str, type[BaseEvent[Any]]] = {}
        for cls in (*self.events, *SUBSCRIPTION_EVENTS):
            if not (isinstance(cls, type) and issubclass(cls, BaseEvent)):
                raise TypeError(f"a declared event is a BaseEvent subclass, not {cls!r}")
            if names.setdefault(cls.event_name, cls) is not cls:
                raise TypeError(f"channel {self.pattern!r}: two event types are named {cls.event_name!r}")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "_regex", re.compile(regex))

    @property
    def names(self) -> frozenset[str]:
        """Every event name a subscription to this channel may receive."""
        return frozenset(cls.event_name for cls in (*self.events, *SUBSCRIPTION_EVENTS))

    def match(self, channel: str) -> dict[str, str] | None:
        found = self._regex.fullmatch(channel)
        return None if found is None else found.groupdict()

    def event_type(self, name: str) -> type[BaseEvent[Any]] | None:
        return next((cls for cls in self.events if cls.event_name == name), None)


_exact: dict[str, ChannelSpec] = {}
_patterns: dict[str, ChannelSpec] = {}


def declare_channel(pattern: str, *events: type[BaseEvent[Any]], description: str = "") -> ChannelSpec:
    """Declare that `pattern` carries `events`; declaring the same again changes nothing."""
    spec = ChannelSpec(pattern, tuple(events), description)
    table = _patterns if spec.params else _exact
    known = table.get(pattern)
    if known is not None and known.events != spec.events:
        raise ValueError(f"channel {pattern!r} is already declared with other events: {known.events}")
    if known is None:
        table[pattern] = spec
    return table[pattern]


def find_channel(channel: str) -> ChannelSpec | None:
    """The declaration `channel` falls under, or None."""
    spec = _exact.get(channel)
    if spec is not None:
        return spec
    return next((spec for spec in _patterns.values() if spec.match(channel) is not None), None)


def declared_channels() -> list[ChannelSpec]:
    """Every declaration: exact names, then patterns, each in the order declared."""
    return [*_exact.values(), *_patterns.values()]


def require_declared(channel: str, event: BaseEvent[Any] | None = None) -> ChannelSpec:
    """The channel's declaration; `UndeclaredChannel`, or `UndeclaredEvent` for an event type
    the channel does not carry."""
    spec = find_channel(channel)
    if spec is None:
        raise UndeclaredChannel(
            f"channel {channel!r} is not declared: declare it with "
            "echo.broadcast.channels.declare_channel(name_or_pattern, *event_types) in an AppConfig.ready()"
        )
    if event is not None and type(event) not in spec.events:
        listed = ", ".join(cls.__name__ for cls in spec.events)
        raise UndeclaredEvent(
            f"channel {channel!r} ({spec.pattern!r}) carries {listed}, not {type(event).__name__}"
        )
    return spec
