"""`GET schema/asyncapi.json` (`?format=yaml`) and `GET schema/openapi.json`: the documents the
`sse_schema` command prints, for staff users (or anyone with `ECHO["SCHEMA_PUBLIC"]`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.http import require_safe

from echo.sse.glue.http import json_error

from .asyncapi import asyncapi_document
from .conf import app_settings
from .openapi import openapi_fragment

__all__ = ["asyncapi", "openapi"]

_FORMATS = ("json", "yaml")


def _document(request: HttpRequest, build: Callable[..., dict[str, Any]]) -> HttpResponseBase:
    if not app_settings.SCHEMA_PUBLIC and not (request.user.is_authenticated and request.user.is_staff):
        return json_error(403, "forbidden", "The schema is for staff users (ECHO['SCHEMA_PUBLIC'] opens it).")
    chosen = request.GET.get("format", "json")
    if chosen not in _FORMATS:
        return json_error(400, "invalid_parameter", "format is json or yaml.", parameter="format")
    document = build(server=f"{request.scheme}://{request.get_host()}")
    if chosen == "yaml":
        try:
            import yaml
        except ImportError:
            return json_error(
                400, "invalid_parameter", "yaml needs PyYAML on the server.", parameter="format"
            )
        return HttpResponse(yaml.safe_dump(document, sort_keys=False), content_type="application/yaml")
    return HttpResponse(json.dumps(document, indent=2), content_type="application/json")


@require_safe
def asyncapi(request: HttpRequest) -> HttpResponseBase:
    return _document(request, asyncapi_document)


@require_safe
def openapi(request: HttpRequest) -> HttpResponseBase:
    return _document(request, openapi_fragment)
