"""Which requests `echo.sse.asgi.ASGIHandler` serves in one thread hop: views marked `stream_view`."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path

from echo.sse.asgi import _is_stream_view


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("not a stream")


urlpatterns = [path("sse2", plain)]  # this module is a urlconf for the last test


def scope(path: str, root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "path": path, "root_path": root_path}


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/sse2", "", True),
        ("/sse3", "", True),
        ("/", "", False),
        ("/no/such/page", "", False),
        ("/mounted/sse2", "/mounted", True),
        ("/mounted/sse2", "/mounted/", True),
        ("/sse2", "/mounted", True),  # a server that leaves the root path in `path` or not
    ],
)
def test_marked_echo_views_are_stream_views(path: str, root_path: str, expected: bool) -> None:
    assert _is_stream_view(scope(path, root_path)) is expected


def test_a_changed_urlconf_is_followed_not_a_remembered_answer() -> None:
    assert _is_stream_view(scope("/sse2")) is True
    with override_settings(ROOT_URLCONF=__name__):
        assert _is_stream_view(scope("/sse2")) is False
    assert _is_stream_view(scope("/sse2")) is True
