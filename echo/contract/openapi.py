"""An OpenAPI 3.1 fragment of the declared streams, to merge into a site's own document
(django-ninja's, drf-spectacular's): one GET path per stream view and per declared broadcast
channel, whose `text/event-stream` response is a `oneOf` of the events, each an object of the
fields a client reads (`event`, `id`, `retry`, and `data` parsed as its payload), discriminated by
the event name. The query model's fields are the query parameters; every refusal is a JSON error."""

from __future__ import annotations

from typing import Any

from echo.sse import BaseEvent

from .asyncapi import _camel, _key
from .conf import app_settings
from .endpoints import channel_endpoints, stream_endpoints, subscription_events
from .schemas import ID_SEMANTICS, Components, gather

__all__ = ["openapi_fragment"]

OPENAPI_VERSION = "3.1.0"

_ERROR = {
    "type": "object",
    "title": "Error",
    "description": "Every refusal of a stream: a code, a sentence, and details by code.",
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
    "required": ["error", "detail"],
    "additionalProperties": True,
}
_REFUSALS = {
    "400": "A bad query parameter or Last-Event-ID.",
    "403": "Not allowed to read this stream.",
    "404": "No such stream or channel.",
    "405": "Only GET and HEAD.",
    "429": "This client holds too many streams (Retry-After).",
    "503": "The server holds as many streams as it may (Retry-After).",
}


def _event_schema(components: Components, cls: type[BaseEvent[Any]], item_key: str) -> dict[str, Any]:
    payload = components.payload(cls)
    return {
        "type": "object",
        "title": f"{cls.__name__} event",
        "description": f"`event: {cls.event_name}`; `data` is the payload "
        + ("as JSON." if cls.data_format == "json" else "as text."),
        "properties": {
            "event": {"const": cls.event_name},
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
            "data": payload,
        },
        "required": ["event", "data"],
        "x-sse-event": cls.event_name,
    }


def _response(
    components: Components, schemas: dict[str, Any], events: tuple[type[BaseEvent[Any]], ...], ids: str
) -> dict[str, Any]:
    mapping = {}
    for cls in events:
        item_key = f"{components.message_key(cls)}Event"
        schemas.setdefault(item_key, _event_schema(components, cls, item_key))
        mapping[cls.event_name] = f"#/components/schemas/{item_key}"
    responses: dict[str, Any] = {
        "200": {
            "description": "An event stream; each item is one event. " + ID_SEMANTICS[ids],
            "content": {
                "text/event-stream": {
                    "schema": {
                        "oneOf": [{"$ref": ref} for ref in mapping.values()],
                        "discriminator": {"propertyName": "event", "mapping": mapping},
                    }
                }
            },
        }
    }
    for status, text in _REFUSALS.items():
        responses[status] = {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return responses


def _parameters(path_params: tuple[str, ...], query: dict[str, Any] | None) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in path_params
    ]
    if query is not None:
        required = set(query.get("required", []))
        for name, schema in query.get("properties", {}).items():
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": schema,
            }
            if "description" in schema:
                parameter["description"] = schema["description"]
            parameters.append(parameter)
    parameters.append(
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "description": "The last id read, to resume after it.",
            "schema": {"type": "string"},
        }
    )
    return parameters


def openapi_fragment(*, server: str | None = None, urlconf: str | None = None) -> dict[str, Any]:
    from echo.sse.wire.control import CONTROL_EVENTS

    streams = stream_endpoints(urlconf)
    channels = channel_endpoints(urlconf)
    subscription = subscription_events()
    components = gather(streams, channels, CONTROL_EVENTS, subscription)

    schemas: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, Any] = {}
    for endpoint in streams:
        contract = endpoint.contract
        query = None if contract.query is None else components.query(contract.query)
        operation: dict[str, Any] = {
            "operationId": _camel(f"read_{_key('stream', endpoint.name)}"),
            "summary": f"Read {endpoint.address}",
            "parameters": _parameters(endpoint.params, query),
            "responses": _response(components, schemas, (*contract.events, *CONTROL_EVENTS), contract.ids),
        }
        if contract.description:
            operation["description"] = contract.description
        paths[endpoint.address] = {"get": operation}
    for channel in channels:
        spec = channel.spec
        operation = {
            "operationId": _camel(f"subscribe_{_key('channel', spec.pattern)}"),
            "summary": f"Subscribe to broadcast channel {spec.pattern}",
            "parameters": _parameters(channel.params, None),
            "responses": _response(components, schemas, (*spec.events, *subscription), "channel"),
        }
        if spec.description:
            operation["description"] = spec.description
        paths[channel.address] = {"get": operation}
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": app_settings.SCHEMA_TITLE, "version": app_settings.SCHEMA_VERSION},
    }
    if server:
        document["servers"] = [{"url": server}]
    document["paths"] = paths
    document["components"] = {"schemas": {**components.definitions(), **schemas}}
    return document
