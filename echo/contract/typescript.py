"""TypeScript declarations of every declared stream and channel, read from the AsyncAPI document.

Made from the document rather than from the Pydantic models, so that the page's types and the
published contract cannot drift apart: one interface or alias per `components.schemas` entry, one
per query model, and per stream or channel an interface from event name to payload (`data` as
`JSON.parse` gives it), which the static module's `TypedEventSource<Events>` consumes. `Streams`
and `Channels` map each address and channel pattern to its events.

What JSON Schema says and TypeScript cannot (`maxLength`, `format`, `minimum`) is left to the
server, which validates; a schema keyword not understood here becomes `unknown`, never `any`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["typescript_declarations"]

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_WORD_BREAK = re.compile(r"[^A-Za-z0-9]+")
_MAX_DEPTH = 32  # inline schemas nest this deep at most; refs are names, never expanded
_PRIMITIVES = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "null": "null",
}


def _literal(value: object) -> str:
    # A JSON literal is a TypeScript literal type (strings, numbers, true/false/null).
    return json.dumps(value, ensure_ascii=False)


def _property_name(name: str) -> str:
    return name if _IDENTIFIER.fullmatch(name) else _literal(name)


def _identifier(text: str) -> str:
    parts = [part for part in _WORD_BREAK.split(text) if part]
    name = "".join(part[:1].upper() + part[1:] for part in parts) or "Unnamed"
    return f"_{name}" if name[0].isdigit() else name


def _grouped(text: str) -> str:
    return f"({text})" if (" | " in text or " & " in text) and not text.startswith("{") else text


def _comment(text: str, indent: str = "") -> str:
    # A description cannot close the comment early.
    lines = text.replace("*/", "*\\/").strip().splitlines()
    if not lines:
        return ""
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */\n"
    body = "".join(f"{indent} * {line}".rstrip() + "\n" for line in lines)
    return f"{indent}/**\n{body}{indent} */\n"


class _Writer:
    """Schemas to type expressions, with the names `$ref`s point at."""

    def __init__(self, schema_names: Mapping[str, str]) -> None:
        self.schema_names = schema_names

    def type_of(self, schema: object, depth: int = 0) -> str:
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return "unknown"
        if "$ref" in schema:
            return self.schema_names.get(str(schema["$ref"]).rsplit("/", 1)[-1], "unknown")
        if "const" in schema:
            return _literal(schema["const"])
        if "enum" in schema:
            return " | ".join(_literal(value) for value in schema["enum"]) or "never"
        for key, joiner in (("anyOf", " | "), ("oneOf", " | "), ("allOf", " & ")):
            if isinstance(schema.get(key), list):
                parts = [_grouped(self.type_of(part, depth + 1)) for part in schema[key]]
                return joiner.join(dict.fromkeys(parts)) or "unknown"
        kind = schema.get("type")
        if isinstance(kind, list):
            return " | ".join(self.type_of({**schema, "type": one}, depth + 1) for one in kind)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "object" or "properties" in schema:
            return self._object(schema, depth, "")
        return _PRIMITIVES.get(str(kind), "unknown")

    def _array(self, schema: dict[str, Any], depth: int) -> str:
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return "[" + ", ".join(self.type_of(item, depth + 1) for item in prefix) + "]"
        return f"Array<{self.type_of(schema.get('items', {}), depth + 1)}>"

    def _object(self, schema: dict[str, Any], depth: int, indent: str) -> str:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, dict):
            return f"Record<string, {self.type_of(extra, depth + 1)}>"
        if not properties:
            return "Record<string, unknown>"
        inner = indent + "  "
        lines = []
        for name, sub in properties.items():
            optional = "" if name in required else "?"
            described = sub.get("description", "") if isinstance(sub, dict) else ""
            lines.append(
                _comment(described, inner)
                + f"{inner}{_property_name(name)}{optional}: {self.type_of(sub, depth + 1)};\n"
            )
        return "{\n" + "".join(lines) + indent + "}"

    def declaration(self, name: str, schema: dict[str, Any]) -> str:
        head = _comment(str(schema.get("description", "")))
        if schema.get("type") == "object" and "properties" in schema:
            return f"{head}export interface {name} {self._object(schema, 0, '')}\n"
        return f"{head}export type {name} = {self.type_of(schema)};\n"


def _unique(wanted: str, taken: set[str]) -> str:
    name, n = wanted, 2
    while name in taken:
        name, n = f"{wanted}{n}", n + 1
    taken.add(name)
    return name


def _queries(document: dict[str, Any], writer: _Writer, taken: set[str]) -> tuple[list[str], dict[str, str]]:
    """One declaration per distinct query schema (three streams sharing one model get one)."""
    out: list[str] = []
    by_channel: dict[str, str] = {}
    seen: dict[str, str] = {}
    for operation in document.get("operations", {}).values():
        query = operation.get("bindings", {}).get("http", {}).get("query")
        if not isinstance(query, dict):
            continue
        channel_key = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        text = json.dumps(query, sort_keys=True)
        if text not in seen:
            seen[text] = _unique(_identifier(str(query.get("title") or f"{channel_key}_query")), taken)
            out.append(writer.declaration(seen[text], query))
        by_channel[channel_key] = seen[text]
    return out, by_channel


def _events(document: dict[str, Any], key: str, channel: dict[str, Any], writer: _Writer, name: str) -> str:
    messages = document["components"]["messages"]
    lines = []
    for event, ref in channel.get("messages", {}).items():
        message = messages[ref["$ref"].rsplit("/", 1)[-1]]
        lines.append(_comment(str(message.get("summary", "")), "  "))
        lines.append(f"  {_property_name(event)}: {writer.type_of(message.get('payload', {}))};\n")
    described = channel.get("description") or f"The events of {channel['address']}."
    return f"{_comment(described)}export interface {name} {{\n{''.join(lines)}}}\n"


def typescript_declarations(document: dict[str, Any]) -> str:
    """The declarations (a `.d.ts` module's text) of an AsyncAPI document made by `asyncapi_document`."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    taken = {"Streams"}
    names = {key: _unique(_identifier(key), taken) for key in schemas}
    writer = _Writer(names)
    parts = [
        f"// {document['info']['title']} {document['info']['version']}: generated by "
        "`manage.py sse_schema --format typescript` from the AsyncAPI document. Do not edit.\n"
    ]
    parts += [writer.declaration(names[key], schema) for key, schema in schemas.items()]
    queries, query_names = _queries(document, writer, taken)
    parts += queries
    addresses: list[str] = []
    for key, channel in document.get("channels", {}).items():
        events = _unique(_identifier(f"{key}_events"), taken)
        parts.append(_events(document, key, channel, writer, events))
        addresses.append(f"  {_literal(channel['address'])}: {events};\n")
        if key in query_names:
            alias = _unique(_identifier(f"{key}_query"), taken)
            parts.append(
                f"/** The query parameters of {channel['address']}. */\n"
                f"export type {alias} = {query_names[key]};\n"
            )
    parts.append(
        "/** Every stream and channel by its address (a pattern's `{name}` as written): its events. */\n"
        f"export interface Streams {{\n{''.join(addresses)}}}\n"
    )
    return "\n".join(parts)
