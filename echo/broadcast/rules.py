"""Who may read a channel, and who may publish to it over HTTP: the rules `declare_channel` takes.

A rule is any callable `rule(user, channel, params) -> bool`: `user` is the request's user, or
None for an anonymous (or inactive) visitor; `params` are the values of the pattern's `{...}`
parameters in `channel`. The ones here say themselves what they allow, so that the schema and the
checks can show it, and compare equal when two apps declare the same channel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["Rule", "anyone", "authenticated", "nobody", "owner", "permission"]

Rule: TypeAlias = Callable[[Any, str, Mapping[str, str]], bool]


@dataclass(frozen=True)
class _Anyone:
    def __call__(self, user: Any, channel: str, params: Mapping[str, str]) -> bool:
        return True

    def __str__(self) -> str:
        return "anyone"


@dataclass(frozen=True)
class _Nobody:
    def __call__(self, user: Any, channel: str, params: Mapping[str, str]) -> bool:
        return False

    def __str__(self) -> str:
        return "nobody"


@dataclass(frozen=True)
class _Authenticated:
    def __call__(self, user: Any, channel: str, params: Mapping[str, str]) -> bool:
        return user is not None and bool(user.is_authenticated)

    def __str__(self) -> str:
        return "signed-in users"


@dataclass(frozen=True)
class Owner:
    """The user whose primary key is the value of the pattern's parameter `param`."""

    param: str

    def __call__(self, user: Any, channel: str, params: Mapping[str, str]) -> bool:
        if user is None or not user.is_authenticated:
            return False
        value = params.get(self.param)
        return value is not None and value == str(user.pk)

    def __str__(self) -> str:
        return f"the user whose id is {{{self.param}}}"


@dataclass(frozen=True)
class Permission:
    """Users with the Django permission `codename` (`app_label.codename`); superusers have all."""

    codename: str

    def __call__(self, user: Any, channel: str, params: Mapping[str, str]) -> bool:
        return user is not None and bool(user.is_authenticated and user.has_perm(self.codename))

    def __str__(self) -> str:
        return f"users with the {self.codename} permission"


anyone: Rule = _Anyone()
nobody: Rule = _Nobody()
authenticated: Rule = _Authenticated()


def owner(param: str = "id") -> Rule:
    """Only the user whose id is the channel's `{param}`: `declare_channel("user-{id}", ..., read=owner())`
    (or `read="id"`)."""
    return Owner(param)


def permission(codename: str) -> Rule:
    return Permission(codename)
