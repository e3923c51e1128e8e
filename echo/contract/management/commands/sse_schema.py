"""`manage.py sse_schema`: the AsyncAPI 3.0 document of every declared stream and channel."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from echo.contract.asyncapi import asyncapi_document
from echo.contract.openapi import openapi_fragment
from echo.contract.typescript import typescript_declarations


class Command(BaseCommand):
    help = (
        "Print the AsyncAPI 3.0 document of every stream view that declares its events "
        "(echo.sse.glue.contract.declare) and every declared broadcast channel; --openapi prints an "
        "OpenAPI 3.1 fragment of the same streams instead; --format typescript writes TypeScript "
        "declarations of the AsyncAPI document's payloads and each stream's events."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["json", "yaml", "typescript"], default="json")
        parser.add_argument(
            "--openapi", action="store_true", help="an OpenAPI 3.1 fragment (paths, components)"
        )
        parser.add_argument("--server", help="the base URL to name as the server, e.g. https://example.com")
        parser.add_argument("--output", "-o", help="write to this file instead of standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        server = options["server"]
        if server is not None and not server.startswith(("http://", "https://")):
            raise CommandError(f"--server is a base URL such as https://example.com, not {server!r}")
        if options["openapi"] and options["format"] == "typescript":
            raise CommandError(
                "--format typescript declares the AsyncAPI document's events: leave out --openapi"
            )
        document = openapi_fragment(server=server) if options["openapi"] else asyncapi_document(server=server)
        text = dump(document, options["format"])
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as out:
                out.write(text)
        else:
            self.stdout.write(text, ending="")


def dump(document: dict[str, Any], format: str) -> str:
    if format == "typescript":
        return typescript_declarations(document)
    if format == "yaml":
        try:
            import yaml
        except ImportError as exc:
            raise CommandError(
                "--format yaml needs PyYAML: pip install 'PyYAML>=6' (echo's [yaml] extra)"
            ) from exc
        return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
