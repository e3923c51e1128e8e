"""Where the declared streams are served: the URL resolver walked for views with a contract, and
the broadcast subscription view with the declared channels."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from echo.sse import BaseEvent
from echo.sse.glue.contract import StreamContract, contract_of

__all__ = [
    "ChannelEndpoint",
    "StreamEndpoint",
    "channel_endpoints",
    "stream_endpoints",
    "subscription_events",
]

_CONVERTER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


@dataclass(frozen=True)
class StreamEndpoint:
    address: str  # "/sse2", "/items/{pk}/stream"
    params: tuple[str, ...]
    name: str  # the URL name, else the view's
    view: Callable[..., Any]
    contract: StreamContract[Any]


@dataclass(frozen=True)
class ChannelEndpoint:
    address: str  # "/events/user-{id}/"
    params: tuple[str, ...]
    pattern: str  # the channel declaration's
    spec: Any  # echo.broadcast.channels.ChannelSpec


def _route(pattern: Any) -> str:
    text = str(pattern)
    return text.removeprefix("^").removesuffix("$").replace("\\", "")


def _walk(patterns: Sequence[Any], prefix: str) -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + _route(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + _route(entry.pattern), entry


def _address(route: str) -> tuple[str, tuple[str, ...]]:
    return "/" + _CONVERTER.sub(r"{\1}", route), tuple(_CONVERTER.findall(route))


def stream_endpoints(urlconf: str | None = None) -> list[StreamEndpoint]:
    """Every URL whose view declares its events (`echo.sse.glue.contract.declare`), in URL order."""
    found: list[StreamEndpoint] = []
    for route, entry in _walk(get_resolver(urlconf).url_patterns, ""):
        contract = contract_of(entry.callback)
        if contract is None:
            continue
        address, params = _address(route)
        name = str(entry.name or getattr(entry.callback, "__name__", address))
        found.append(StreamEndpoint(address, params, name, entry.callback, contract))
    return found


def channel_endpoints(urlconf: str | None = None) -> list[ChannelEndpoint]:
    """Every declared broadcast channel at the subscription URL (none without echo.broadcast)."""
    if not apps.is_installed("echo.broadcast"):
        return []
    from echo.broadcast.channels import declared_channels
    from echo.broadcast.views import events as subscription_view

    for route, entry in _walk(get_resolver(urlconf).url_patterns, ""):
        if entry.callback is subscription_view:
            # The view's one parameter names the channels; a declared pattern's own `{param}`s
            # become the address's.
            address, params = _address(route.replace("<str:channels>", "\0"))
            return [
                ChannelEndpoint(address.replace("\0", spec.pattern), params + spec.params, spec.pattern, spec)
                for spec in declared_channels()
            ]
    return []


def subscription_events() -> tuple[type[BaseEvent[Any]], ...]:
    """What a broadcast subscription sends besides its channels' events (none without broadcast)."""
    if not apps.is_installed("echo.broadcast"):
        return ()
    from echo.broadcast.channels import SUBSCRIPTION_EVENTS

    return SUBSCRIPTION_EVENTS
