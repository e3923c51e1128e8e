"""`manage.py sse_schema`: the AsyncAPI document checked by the official tools (the @asyncapi/specs
JSON Schema and @asyncapi/parser, from tests/contract/node), the OpenAPI fragment by
openapi-spec-validator, and both against the views' declarations and what the streams really send."""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from openapi_spec_validator import validate as validate_openapi

from echo.contract.endpoints import channel_endpoints, stream_endpoints
from echo.demo.messages import ChatMessage, MessagePayload
from echo.sse.glue.testing import open_stream
from echo.sse.wire.control import CONTROL_EVENTS

from ..loops import run

NODE_DIR = Path(__file__).parent / "node"
NODE_MISSING = "node and `npm ci` in tests/contract/node (make test installs them) are needed"


def schema(*args: str) -> str:
    out = io.StringIO()
    call_command("sse_schema", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def demo_channels_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo project's declarations and a per-user pattern as a site would declare it (not the
    test servers' catch-all channel)."""
    from echo.broadcast import channels

    monkeypatch.setattr(channels, "_patterns", {})
    channels.declare_channel("user-{id}", ChatMessage, description="One user's own messages.")


def demo_document() -> dict[str, Any]:
    return json.loads(schema())


def official_validators(document: dict[str, Any], tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@asyncapi" / "parser").is_dir():
        if os.environ.get("ECHO_REQUIRE_SERVICES") == "1":
            pytest.fail(NODE_MISSING)
        pytest.skip(NODE_MISSING)
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    done = subprocess.run(
        [node, "validate.mjs", str(path)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def problems(found: dict[str, list[dict[str, Any]]]) -> list[Any]:
    serious = [d for d in found["diagnostics"] if d["severity"] in ("error", "warning")]
    return [*found["schemaErrors"], *serious]


@pytest.mark.django_db
def test_the_demo_document_passes_the_official_asyncapi_tools(tmp_path: Path) -> None:
    found = official_validators(demo_document(), tmp_path)

    assert problems(found) == []
    # What is left is advice (the 3.1.0 release exists; this is a 3.0 document, as asked).
    assert {d["code"] for d in found["diagnostics"]} <= {"asyncapi-latest-version"}


@pytest.mark.django_db
def test_the_validators_do_find_a_broken_document(tmp_path: Path) -> None:
    broken = copy.deepcopy(demo_document())
    broken["operations"]["readStreamSse2"]["action"] = "publish"  # AsyncAPI 2's word
    broken["channels"]["stream_sse2"]["messages"]["echo"]["$ref"] = "#/components/messages/Nowhere"

    found = official_validators(broken, tmp_path)

    assert any("action" in e["path"] for e in found["schemaErrors"])
    assert any(d["severity"] == "error" for d in found["diagnostics"])


@pytest.mark.django_db
def test_the_document_names_every_demo_event_and_control_event() -> None:
    document = demo_document()
    messages = {m["name"] for m in document["components"]["messages"].values()}

    assert messages == {
        "echo", "reverse_echo", "chat_message",
        "completed", "shutdown", "terminated", "error", "slow_client",
        "stream-open", "stream-reset", "stream-error",
    }  # fmt: skip
    assert set(document["channels"]) == {
        "stream_sse", "stream_sse2", "stream_sse3", "channel_demo", "channel_user_id"
    }  # fmt: skip
    user = document["channels"]["channel_user_id"]
    assert (user["address"], list(user["parameters"])) == ("/events/user-{id}/", ["id"])
    assert document["channels"]["stream_sse3"]["x-sse-ids"]["format"] == "composite"
    query = document["operations"]["readStreamSse2"]["bindings"]["http"]["query"]
    assert query["required"] == ["message"]
    assert query["properties"]["interval"].items() >= {"minimum": 0, "maximum": 3600}.items()
    assert query["properties"]["message"]["maxLength"] == 1000  # from the setting, read now
    text = document["components"]["messages"]["EchoText"]
    assert (text["contentType"], text["payload"]) == ("text/plain", {"type": "string"})


@pytest.mark.django_db
def test_every_declared_view_and_channel_is_its_document_channel_exactly() -> None:
    document = demo_document()
    by_address = {channel["address"]: channel for channel in document["channels"].values()}

    streams = stream_endpoints()
    assert {endpoint.address for endpoint in streams} == {"/sse", "/sse2", "/sse3"}
    for endpoint in streams:
        assert set(by_address[endpoint.address]["messages"]) == endpoint.contract.names
    for channel in channel_endpoints():
        assert set(by_address[channel.address]["messages"]) == channel.spec.names


def payload_schema(document: dict[str, Any], address: str, name: str) -> dict[str, Any]:
    channel = next(c for c in document["channels"].values() if c["address"] == address)
    key = channel["messages"][name]["$ref"].rsplit("/", 1)[1]
    payload = document["components"]["messages"][key]["payload"]
    return {**payload, "components": document["components"]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/sse", {"message": "hi", "interval": "0"}),
        ("/sse2", {"message": "hi", "interval": "0"}),
        ("/sse3", {"message": "hi", "interval": "0", "resumable": "1"}),
    ],
)
def test_what_each_demo_stream_sends_is_in_its_document(path: str, query: dict[str, str]) -> None:
    document = demo_document()

    async def read() -> list[Any]:
        async with open_stream(path, query=query) as stream:
            return await stream.read(10)

    events = run(read())
    assert len(events) == 10
    for event in events:
        schema = payload_schema(document, path, event.event)
        data = json.loads(event.data) if schema.get("type") != "string" else event.data
        jsonschema.validate(data, schema)


@pytest.mark.django_db(transaction=True)
def test_what_a_channel_sends_is_in_its_document() -> None:
    from echo.broadcast.publish import publish

    document = demo_document()
    publish("demo", ChatMessage.create(MessagePayload(text="hello")))

    async def read() -> list[Any]:
        async with open_stream("/events/demo/", headers={"Last-Event-ID": "demo:0"}) as stream:
            return await stream.read(2)

    opened, message = run(read())
    assert (opened.event, message.event) == ("stream-open", "chat_message")
    for event in (opened, message):
        schema = payload_schema(document, "/events/demo/", event.event)
        data = event.data if schema.get("type") == "string" else json.loads(event.data)
        jsonschema.validate(data, schema)


@pytest.mark.django_db
def test_yaml_is_the_same_document() -> None:
    assert yaml.safe_load(schema("--format", "yaml")) == demo_document()


@pytest.mark.django_db
def test_a_server_is_named_only_when_given(tmp_path: Path) -> None:
    document = json.loads(schema("--server", "https://example.com/base"))

    assert document["servers"] == {
        "default": {"host": "example.com", "protocol": "https", "pathname": "/base"}
    }
    assert "servers" not in demo_document()
    with pytest.raises(CommandError, match="--server is a base URL"):
        schema("--server", "example.com")


@pytest.mark.django_db
def test_the_openapi_fragment_is_valid_openapi_31_with_one_of_the_events() -> None:
    fragment = json.loads(schema("--openapi"))

    validate_openapi(fragment)
    assert fragment["openapi"] == "3.1.0"
    assert set(fragment["paths"]) == {"/sse", "/sse2", "/sse3", "/events/demo/", "/events/user-{id}/"}
    stream = fragment["paths"]["/sse3"]["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    expected = {"echo", "reverse_echo", *(cls.event_name for cls in CONTROL_EVENTS)}
    assert set(stream["discriminator"]["mapping"]) == expected
    assert stream["discriminator"]["propertyName"] == "event"
    names = {p["name"]: p for p in fragment["paths"]["/sse2"]["get"]["parameters"]}
    assert names["message"]["required"] is True
    assert names["Last-Event-ID"]["in"] == "header"
    assert fragment["paths"]["/events/user-{id}/"]["get"]["parameters"][0]["in"] == "path"


@pytest.mark.django_db
def test_the_schema_url_is_for_staff_unless_opened(django_user_model: Any) -> None:
    client = Client()
    refused = client.get("/schema/asyncapi.json")
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")

    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    served = client.get("/schema/asyncapi.json")
    assert served.status_code == 200
    assert served.json()["servers"]["default"]["host"] == "testserver"
    assert client.get("/schema/openapi.json").json()["openapi"] == "3.1.0"
    assert yaml.safe_load(client.get("/schema/asyncapi.json?format=yaml").content)["asyncapi"] == "3.0.0"
    assert client.get("/schema/asyncapi.json?format=xml").status_code == 400
    assert client.post("/schema/asyncapi.json").status_code == 405

    with override_settings(ECHO={"SCHEMA_PUBLIC": True}):
        assert Client().get("/schema/asyncapi.json").status_code == 200
