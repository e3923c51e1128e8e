"""JSON Schemas of payloads and query models, generated together so that shared models are one
entry under `#/components/schemas/`, and the message each event type becomes."""

from __future__ import annotations

import inspect
import re
from typing import Any

from pydantic import BaseModel, TypeAdapter

from echo.sse import BaseEvent
from echo.sse.wire.control import CONTROL_EVENTS, StreamFailed, StreamOpen, StreamReset

__all__ = ["ID_SEMANTICS", "REF_TEMPLATE", "Components", "gather", "is_control"]

REF_TEMPLATE = "#/components/schemas/{model}"

_CONTROL = {*CONTROL_EVENTS, StreamOpen, StreamReset, StreamFailed}
_KEY = re.compile(r"[^A-Za-z0-9_.-]")

# What a stream's ids are, and what a client sends back to resume: `x-sse-ids` in the documents.
ID_SEMANTICS: dict[str, str] = {
    "none": "Events carry no id: a reconnection starts the stream over.",
    "plain": (
        "Each event's id is its position in the stream (0, 1, 2 ...). Send the last id read as "
        "`Last-Event-ID` (or the `lastEventId` query parameter) to continue after it."
    ),
    "composite": (
        "Each event's id names the position of every merged source, `echo:3,reverse_echo:2`: send "
        "it back as `Last-Event-ID` and each source continues after its own position."
    ),
    "channel": (
        "Each event's id is `channel:id` (several channels: `news:5,alerts:2`, one pair per channel "
        "subscribed). Send it back as `Last-Event-ID`: every event stored after those ids is sent "
        "first, then live ones. `stream-reset` says a channel's ids went back and events may be missing."
    ),
}


def is_control(cls: type[BaseEvent[Any]]) -> bool:
    return cls in _CONTROL


def _summary(cls: type) -> str:
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    return doc.split("\n\n")[0].replace("\n", " ")


class Components:
    """The messages and schemas of one document, keyed by unique names."""

    def __init__(self) -> None:
        self._message_keys: dict[type[BaseEvent[Any]], str] = {}
        self._models: dict[str, type[BaseModel]] = {}
        self._adapters: dict[tuple[str, str], TypeAdapter[Any]] = {}
        self._schemas: dict[tuple[str, str], dict[str, Any]] | None = None
        self._definitions: dict[str, Any] = {}

    def message_key(self, cls: type[BaseEvent[Any]]) -> str:
        key = self._message_keys.get(cls)
        if key is None:
            taken = set(self._message_keys.values())
            key = (
                cls.__name__
                if cls.__name__ not in taken
                else _KEY.sub("_", f"{cls.__module__}.{cls.__qualname__}")
            )
            self._message_keys[cls] = key
            if cls.data_format == "json":
                self._adapters[("payload", key)] = cls.data_adapter()
        return key

    def query_key(self, model: type[BaseModel]) -> str:
        key = _KEY.sub("_", f"{model.__name__}")
        if self._models.get(key, model) is not model:
            key = _KEY.sub("_", f"{model.__module__}.{model.__qualname__}")
        self._models[key] = model
        self._adapters[("query", key)] = TypeAdapter(model)
        return key

    def finish(self, ref_template: str) -> None:
        """Generate every schema asked for so far (refs by `ref_template`)."""
        inputs = [
            (key, "serialization" if key[0] == "payload" else "validation", adapter)
            for key, adapter in self._adapters.items()
        ]
        schemas, definitions = TypeAdapter.json_schemas(inputs, ref_template=ref_template)  # type: ignore[arg-type]
        self._schemas = {key[0]: schema for key, schema in schemas.items()}
        self._definitions = dict(definitions.get("$defs", {}))

    def payload(self, cls: type[BaseEvent[Any]]) -> dict[str, Any]:
        assert self._schemas is not None
        if cls.data_format == "text":
            return {"type": "string"}
        return self._schemas[("payload", self.message_key(cls))]

    def query(self, model: type[BaseModel]) -> dict[str, Any]:
        """The model's own schema (its properties inline), nested models by reference."""
        assert self._schemas is not None
        schema = self._schemas[("query", self.query_key(model))]
        ref = schema.get("$ref")
        if ref is not None:
            schema = self._definitions[ref.rsplit("/", 1)[1]]
        return dict(schema)

    def definitions(self, *, skip_queries: bool = True) -> dict[str, Any]:
        """`components.schemas`: the models the payloads and queries refer to."""
        queries = set(self._models) if skip_queries else set()
        return {name: schema for name, schema in sorted(self._definitions.items()) if name not in queries}

    def message(self, cls: type[BaseEvent[Any]]) -> dict[str, Any]:
        """The AsyncAPI Message Object of an event type."""
        message: dict[str, Any] = {
            "name": cls.event_name,
            "title": cls.__name__,
            "contentType": "application/json" if cls.data_format == "json" else "text/plain",
            "payload": self.payload(cls),
            "x-sse-event": cls.event_name,
            "x-sse-control": is_control(cls),
        }
        summary = _summary(cls)
        if summary:
            message["summary"] = summary
        return message

    def messages(self) -> dict[str, dict[str, Any]]:
        return {
            key: self.message(cls) for cls, key in sorted(self._message_keys.items(), key=lambda kv: kv[1])
        }


def gather(
    streams: list[Any],
    channels: list[Any],
    control: tuple[type[BaseEvent[Any]], ...],
    subscription: tuple[type[BaseEvent[Any]], ...],
) -> Components:
    """The components of every stream's and channel's events and query model, generated together
    (so that a model two of them share is one entry under `#/components/schemas/`)."""
    components = Components()
    for endpoint in streams:
        for cls in (*endpoint.contract.events, *control):
            components.message_key(cls)
        if endpoint.contract.query is not None:
            components.query_key(endpoint.contract.query)
    for channel in channels:
        for cls in (*channel.spec.events, *subscription):
            components.message_key(cls)
    components.finish(REF_TEMPLATE)
    return components
