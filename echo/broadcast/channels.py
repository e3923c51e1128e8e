"""Declared channels: the event types each broadcast channel, or pattern of channels, carries,
and who may read it and publish to it.

`declare_channel("news", Headline)` or `declare_channel("user-{id}", Notice, read=owner("id"))`,
from an `AppConfig.ready()`. `publish()` refuses a channel that matches no declaration, or an
event type its declaration does not list, before anything is stored; the subscription view answers
an undeclared channel with a JSON 404; `manage.py publish` and the schema (`echo.contract`) read the
declarations. A name is matched against the exact declarations first, then against the patterns
in the order they were declared. A `{param}` stands for one or more channel-name characters.

Access (`echo.broadcast.rules`): an exact name is readable by anyone unless its declaration says
otherwise; a pattern is readable by no one until one says who (`read=`; `echo.E009` names a
pattern without), since its names are made from ids. Publishing over HTTP needs the `publish=`
rule, by default the `echo_broadcast.publish` permission. Several apps may declare one pattern:
the event types add up; the rules, where two give one, must agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from echo.sse import BaseEvent
from echo.sse.glue.contract import StreamContract
from echo.sse.wire.control import CONTROL_EVENTS, StreamFailed, StreamOpen, StreamReset

from .exceptions import UndeclaredChannel, UndeclaredEvent
from .rules import Owner, Permission, Rule, anyone, nobody

__all__ = [
    "CHANNEL_NAME",
    "PUBLISH_PERMISSION",
    "SUBSCRIPTION_EVENTS",
    "ChannelSpec",
    "declare_channel",
    "declared_channels",
    "find_channel",
    "payload_problems",
    "require_declared",
    "subscription_contract",
    "valid_channel",
]

PUBLISH_PERMISSION = "echo_broadcast.publish"

# No ':' or ',' (they separate parts of a multi-channel event id) and nothing a header could split on.
CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def valid_channel(name: str) -> bool:
    return CHANNEL_NAME.fullmatch(name) is not None


# What a subscription sends besides its channels' events.
SUBSCRIPTION_EVENTS: tuple[type[BaseEvent[Any]], ...] = (StreamOpen, StreamReset, StreamFailed)

_PARAM = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_PARAM_VALUE = r"[A-Za-z0-9_.-]+"


@dataclass(frozen=True)
class ChannelSpec:
    """One declaration: a channel name or pattern, the event types it carries, its access rules.

    `read` and `publish` None mean the defaults: an exact name is readable by anyone, a pattern by
    no one; publishing needs `PUBLISH_PERMISSION`.
    """

    pattern: str
    events: tuple[type[BaseEvent[Any]], ...]
    description: str = ""
    read: Rule | None = None
    publish: Rule | None = None
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
        for rule in (self.read, self.publish):
            if isinstance(rule, Owner) and rule.param not in params:
                raise ValueError(f"channel {self.pattern!r} has no parameter {{{rule.param}}} to own")
            if rule is not None and not callable(rule):
                raise TypeError(f"channel {self.pattern!r}: a rule is a callable, not {rule!r}")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "_regex", re.compile(regex))

    @property
    def read_rule(self) -> Rule:
        """Who may read: the declared rule, else anyone for a name and no one for a pattern."""
        if self.read is not None:
            return self.read
        return nobody if self.params else anyone

    @property
    def publish_rule(self) -> Rule:
        return self.publish if self.publish is not None else Permission(PUBLISH_PERMISSION)

    def may_read(self, user: Any, channel: str) -> bool:
        """May `user` (None for an anonymous visitor) subscribe to `channel`, a name of this spec?"""
        params = self.match(channel)
        return params is not None and bool(self.read_rule(user, channel, params))

    def may_publish(self, user: Any, channel: str) -> bool:
        """May `user` publish to `channel` over HTTP? (`publish()` in Python code asks nothing.)"""
        params = self.match(channel)
        return params is not None and bool(self.publish_rule(user, channel, params))

    def merged(self, other: ChannelSpec) -> ChannelSpec:
        """This declaration with `other`'s event types added; a rule given by both must agree."""
        read = self._agreed("read", self.read, other.read)
        publish = self._agreed("publish", self.publish, other.publish)
        events = (*self.events, *(cls for cls in other.events if cls not in self.events))
        return ChannelSpec(self.pattern, events, self.description or other.description, read, publish)

    def _agreed(self, name: str, mine: Rule | None, theirs: Rule | None) -> Rule | None:
        if mine is not None and theirs is not None and mine != theirs:
            raise ValueError(f"channel {self.pattern!r} is declared with two {name} rules: {mine}, {theirs}")
        return mine if mine is not None else theirs

    @property
    def names(self) -> frozenset[str]:
        """Every event name a subscription to this channel may receive."""
        return frozenset(cls.event_name for cls in (*self.events, *SUBSCRIPTION_EVENTS))

    def match(self, channel: str) -> dict[str, str] | None:
        found = self._regex.fullmatch(channel)
        return None if found is None else found.groupdict()

    def event_type(self, name: str) -> type[BaseEvent[Any]] | None:
        return next((cls for cls in self.events if cls.event_name == name), None)


def payload_problems(error: ValidationError) -> list[tuple[str, str]]:
    """Each (field, message) a payload validated as `Event.model_validate({"data": payload})`
    failed on: the field's dotted path inside the payload, "" for the payload itself."""
    return [
        (".".join(str(part) for part in problem["loc"][1:]), problem["msg"])
        for problem in error.errors(include_url=False, include_input=False)
    ]


def subscription_contract(specs: Iterable[ChannelSpec]) -> StreamContract[Any]:
    """What a subscription to these declarations may send, for its response to check. Only the
    names are checked: one type stands for each name (two declarations may carry different types
    of one name), and a name the control events have is theirs."""
    control = {cls.event_name for cls in CONTROL_EVENTS}
    by_name: dict[str, type[BaseEvent[Any]]] = {}
    for cls in (*SUBSCRIPTION_EVENTS, *(cls for spec in specs for cls in spec.events)):
        if cls.event_name not in control:
            by_name.setdefault(cls.event_name, cls)
    return StreamContract(*(by_name.values() or SUBSCRIPTION_EVENTS), ids="channel")


_exact: dict[str, ChannelSpec] = {}
_patterns: dict[str, ChannelSpec] = {}


def declare_channel(
    pattern: str,
    *events: type[BaseEvent[Any]],
    description: str = "",
    read: Rule | str | None = None,
    publish: Rule | str | None = None,
) -> ChannelSpec:
    """Declare that `pattern` carries `events`, readable and publishable as `read` and `publish`
    say (`echo.broadcast.rules`; a string names the pattern parameter that must be the user's id:
    `read="id"` is `read=owner("id")`). Declaring a pattern again adds its event types."""
    spec = ChannelSpec(pattern, tuple(events), description, _rule(read), _rule(publish))
    table = _patterns if spec.params else _exact
    known = table.get(pattern)
    table[pattern] = spec if known is None else known.merged(spec)
    return table[pattern]


def _rule(rule: Rule | str | None) -> Rule | None:
    return Owner(rule) if isinstance(rule, str) else rule


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
