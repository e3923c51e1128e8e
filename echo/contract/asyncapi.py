"""The AsyncAPI 3.0 document of every declared stream and broadcast channel.

One channel per stream URL and per declared broadcast channel (a pattern's `{param}` becomes a
channel parameter), one `send` operation each (the application sends, the client receives) with
the HTTP binding's method and query schema, one message per event name with its payload's JSON
Schema. AsyncAPI has no SSE binding, so what SSE adds is in documented extensions:

- `x-sse-event` (message): the `event:` field's value; `x-sse-control` (message): a control event
  (`echo.sse.wire.control`) rather than one of the stream's own;
- `x-sse-ids` (channel): `{"format": "none" | "plain" | "composite" | "channel", "resume": text}`,
  what the ids look like and how `Last-Event-ID` resumes;
- `x-sse-multiplex` (broadcast channels): several channels are read at once by naming them
  comma-separated in one address.
"""

from __future__ import annotations

import re
from typing import Any

from echo.sse import BaseEvent

from .conf import app_settings
from .endpoints import (
    ChannelEndpoint,
    StreamEndpoint,
    channel_endpoints,
    stream_endpoints,
    subscription_events,
)
from .schemas import ID_SEMANTICS, Components, gather

__all__ = ["asyncapi_document"]

ASYNCAPI_VERSION = "3.0.0"
HTTP_BINDING_VERSION = "0.3.0"
_KEY = re.compile(r"[^A-Za-z0-9_]+")


def _key(prefix: str, text: str) -> str:
    return _KEY.sub("_", f"{prefix}_{text}").strip("_")


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _channel(
    components: Components,
    key: str,
    address: str,
    params: tuple[str, ...],
    events: tuple[type[BaseEvent[Any]], ...],
    description: str,
    ids: str,
) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "address": address,
        "messages": {
            cls.event_name: {"$ref": f"#/components/messages/{components.message_key(cls)}"} for cls in events
        },
        "x-sse-ids": {"format": ids, "resume": ID_SEMANTICS[ids]},
    }
    if description:
        channel["description"] = description
    if params:
        channel["parameters"] = {
            name: {"description": f"The `{name}` part of the address."} for name in params
        }
    return channel


def _operation(
    channel_key: str, channel: dict[str, Any], summary: str, query: dict[str, Any] | None
) -> dict[str, Any]:
    binding: dict[str, Any] = {"method": "GET", "bindingVersion": HTTP_BINDING_VERSION}
    if query is not None:
        binding["query"] = query
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{channel_key}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel_key}/messages/{name}"} for name in channel["messages"]],
        "bindings": {"http": binding},
    }


def asyncapi_document(*, server: str | None = None, urlconf: str | None = None) -> dict[str, Any]:
    """The document as a dict (JSON-ready). `server`: a base URL such as http://127.0.0.1:8000."""
    from echo.sse.wire.control import CONTROL_EVENTS

    streams = stream_endpoints(urlconf)
    channels = channel_endpoints(urlconf)
    subscription = subscription_events()
    components = gather(streams, channels, CONTROL_EVENTS, subscription)

    doc_channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for endpoint in streams:
        _add_stream(components, endpoint, doc_channels, operations, CONTROL_EVENTS)
    for channel_endpoint in channels:
        _add_broadcast(components, channel_endpoint, doc_channels, operations, subscription)

    info: dict[str, Any] = {
        "title": app_settings.SCHEMA_TITLE,
        "version": app_settings.SCHEMA_VERSION,
        "description": app_settings.SCHEMA_DESCRIPTION
        or "Server-sent event streams: each channel is a URL read with GET and `Accept: text/event-stream`.",
    }
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": info,
        "defaultContentType": "application/json",
    }
    if server:
        scheme, _, rest = server.partition("://")
        host, _, path = rest.partition("/")
        document["servers"] = {
            "default": {
                "host": host,
                "protocol": scheme,
                **({"pathname": f"/{path}".rstrip("/")} if path.strip("/") else {}),
            }
        }
    document["channels"] = doc_channels
    document["operations"] = operations
    document["components"] = {"messages": components.messages(), "schemas": components.definitions()}
    return document


def _add_stream(
    components: Components,
    endpoint: StreamEndpoint,
    channels: dict[str, Any],
    operations: dict[str, Any],
    control: tuple[type[BaseEvent[Any]], ...],
) -> None:
    contract = endpoint.contract
    key = _key("stream", endpoint.name)
    if key in channels:
        key = _key(key, endpoint.address)
    channel = _channel(
        components,
        key,
        endpoint.address,
        endpoint.params,
        (*contract.events, *control),
        contract.description,
        contract.ids,
    )
    channels[key] = channel
    query = None if contract.query is None else components.query(contract.query)
    names = ", ".join(cls.event_name for cls in contract.events)
    operations[_camel(f"read_{key}")] = _operation(key, channel, f"Read {endpoint.address}: {names}.", query)


def _add_broadcast(
    components: Components,
    endpoint: ChannelEndpoint,
    channels: dict[str, Any],
    operations: dict[str, Any],
    subscription: tuple[type[BaseEvent[Any]], ...],
) -> None:
    spec = endpoint.spec
    key = _key("channel", spec.pattern)
    channel = _channel(
        components,
        key,
        endpoint.address,
        endpoint.params,
        (*spec.events, *subscription),
        spec.description,
        "channel",
    )
    channel["x-sse-multiplex"] = (
        "Name several channels comma-separated in one address (`/events/news,alerts/`) to read them "
        "as one stream; each event is one channel's, and its id names every channel's position."
    )
    channels[key] = channel
    names = ", ".join(cls.event_name for cls in spec.events)
    operations[_camel(f"subscribe_{key}")] = _operation(
        key, channel, f"Subscribe to broadcast channel {spec.pattern}: {names}.", None
    )
