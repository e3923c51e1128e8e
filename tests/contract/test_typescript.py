"""`manage.py sse_schema --format typescript`: the declarations type-check an example page under
`tsc --strict` (TypeScript pinned in tests/contract/node's lockfile), together with the static
module's own eventsource.d.ts, and refuse what the contract does not allow."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from echo.contract.asyncapi import asyncapi_document
from echo.contract.typescript import typescript_declarations
from echo.sse.glue.redact import SECRET_NAMES

NODE_DIR = Path(__file__).parent / "node"
EXAMPLE = NODE_DIR / "example"
ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "echo" / "sse" / "static" / "echo"
DOCS_PAGE = ROOT / "docs" / "browser" / "typed-module.md"
NULL = {"type": "null"}
TSC_MISSING = "node and `npm ci` in tests/contract/node (make node-deps) are needed for tsc"


def schema(*args: str) -> str:
    out = io.StringIO()
    call_command("sse_schema", *args, stdout=out)
    return out.getvalue()


def page_folder(tmp_path: Path) -> Path:
    """The example page as a site would lay it out: the module and its types copied beside it, the
    declarations written by the command."""
    for source in [*EXAMPLE.iterdir(), STATIC / "eventsource.js", STATIC / "eventsource.d.ts"]:
        shutil.copy(source, tmp_path / source.name)
    call_command("sse_schema", "--format", "typescript", "-o", str(tmp_path / "schema.d.ts"))
    # The docs' TypeScript, as written there, is part of the page.
    for n, block in enumerate(re.findall(r"```ts\n(.*?)```", DOCS_PAGE.read_text(), re.S)):
        (tmp_path / f"docs_{n}.ts").write_text(f"{block}export {{}};\n")
    return tmp_path


def tsc(folder: Path) -> subprocess.CompletedProcess[str]:
    node, compiler = shutil.which("node"), NODE_DIR / "node_modules" / "typescript" / "bin" / "tsc"
    if node is None or not compiler.is_file():
        if os.environ.get("ECHO_REQUIRE_SERVICES") == "1":
            pytest.fail(TSC_MISSING)
        pytest.skip(TSC_MISSING)
    command = [node, str(compiler), "--strict", "--noEmit", "-p", str(folder / "tsconfig.json")]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.django_db
def test_the_generated_declarations_type_check_the_example_page_under_strict(tmp_path: Path) -> None:
    done = tsc(page_folder(tmp_path))

    # mistakes.ts is part of it: each of its expect-error lines must really be an error.
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "docs_0.ts").is_file()


@pytest.mark.django_db
def test_tsc_refuses_a_page_that_reads_a_field_the_payload_has_not(tmp_path: Path) -> None:
    folder = page_folder(tmp_path)
    (folder / "mistakes.ts").unlink()
    (folder / "wrong.ts").write_text(
        'import { TypedEventSource } from "./eventsource.js";\n'
        'import type { StreamSse2Events } from "./schema.js";\n'
        'new TypedEventSource<StreamSse2Events>("/sse2").on("echo", (data) => data.text);\n'
    )

    done = tsc(folder)

    assert done.returncode != 0
    assert "wrong.ts(3," in done.stdout
    assert "error TS2339: Property 'text' does not exist on type 'EchoPayload'" in done.stdout


@pytest.mark.django_db
def test_every_stream_and_channel_has_an_events_interface_from_the_document() -> None:
    text = schema("--format", "typescript")
    document = asyncapi_document()

    assert text == typescript_declarations(document)
    streams = re.search(r"export interface Streams \{\n(.*?)\n\}", text, re.S)
    assert streams is not None
    assert [line.split('"')[1] for line in streams.group(1).splitlines()] == [
        channel["address"] for channel in document["channels"].values()
    ]
    sse2 = re.search(r"export interface StreamSse2Events \{\n(.*?)\n\}", text, re.S)
    assert sse2 is not None
    fields = dict(re.findall(r"^  ([\w\"-]+): (\w+);$", sse2.group(1), re.M))
    assert fields == {
        "echo": "EchoPayload", "completed": "EndPayload", "shutdown": "EndPayload",
        "terminated": "EndPayload", "error": "EndPayload", "slow_client": "EndPayload",
    }  # fmt: skip
    assert "export interface EchoPayload {\n  message: string;\n  created_at?: string;\n}" in text
    assert "  limit?: number | null;\n" in text
    assert '"stream-open": string;' in text


def test_names_and_comments_from_a_schema_cannot_break_the_declarations() -> None:
    document = {
        "info": {"title": "t", "version": "1"},
        "channels": {
            "stream_odd": {
                "address": "/odd",
                "description": "ends early */ export const x = 1; /*",
                "messages": {"odd-name": {"$ref": "#/components/messages/Odd"}},
            }
        },
        "operations": {},
        "components": {
            "messages": {"Odd": {"payload": {"$ref": "#/components/schemas/odd.Model-1"}}},
            "schemas": {
                "odd.Model-1": {
                    "type": "object",
                    "description": "a */ b",
                    "properties": {
                        "two words": {"type": "string", "description": "x */ y"},
                        "deep": {"anyOf": [{"type": "array", "items": {"type": "integer"}}, NULL]},
                        "kinds": {"type": ["string", "null"]},
                        "label": {"const": 'say "hi"'},
                        "map": {"type": "object", "additionalProperties": {"type": "boolean"}},
                        "mystery": {"not": {}},
                    },
                    "required": ["two words"],
                }
            },
        },
    }

    text = typescript_declarations(document)

    assert "*/ export" not in text
    assert "a */ b" not in text
    assert "export interface OddModel1 {" in text
    assert '  "two words": string;' in text
    assert "  deep?: Array<number> | null;" in text
    assert "  kinds?: string | null;" in text
    assert '  label?: "say \\"hi\\"";' in text
    assert "  map?: Record<string, boolean>;" in text
    assert "  mystery?: unknown;" in text
    assert '  "odd-name": OddModel1;' in text


def test_typescript_and_openapi_together_are_refused() -> None:
    with pytest.raises(CommandError, match="leave out --openapi"):
        schema("--format", "typescript", "--openapi")


def test_the_module_keeps_every_credential_name_the_server_redacts_out_of_its_storage_key() -> None:
    source = (STATIC / "eventsource.js").read_text()
    listed = re.search(r"const SECRET_WORDS = new Set\(\[(.*?)\]\);", source, re.S)
    assert listed is not None
    words = set(re.findall(r'"([^"]+)"', listed.group(1)))

    assert set(SECRET_NAMES) <= words
