"""`echo.views` through Django's test clients: the JSON refusals, and HEAD/GET through the middleware."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import AsyncClient, Client, override_settings

from echo.sse.runtime.registry import registry

from ..loops import run

ENDPOINTS = ["/sse", "/sse2", "/sse3"]


@pytest.fixture
def unrecorded() -> Iterator[None]:
    """Streams served by these tests stay out of the session recorder (and so the database)."""
    observers = registry.observers()
    for observer in observers:
        registry.remove_observer(observer)
    yield
    for observer in observers:
        registry.add_observer(observer)


def assert_invalid_parameter(response: Any, parameter: str) -> dict[str, Any]:
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "detail", "parameter", "errors"}
    assert body["error"] == "invalid_parameter"
    assert body["parameter"] == parameter
    assert isinstance(body["detail"], str)
    assert parameter in body["detail"]
    assert body["errors"]
    for error in body["errors"]:
        assert set(error) == {"parameter", "detail"}
        assert isinstance(error["detail"], str)
        assert error["detail"]
    assert body["errors"][0]["parameter"] == parameter
    return body


BAD_QUERIES = [
    pytest.param("", "message", id="message-missing"),
    pytest.param("message=", "message", id="message-empty"),
    pytest.param("message=" + "x" * 1001, "message", id="message-too-long"),
    pytest.param("message=a&message=b", "message", id="message-twice"),
    pytest.param("message=a&interval=soon", "interval", id="interval-not-a-number"),
    pytest.param("message=a&interval=-1", "interval", id="interval-negative"),
    pytest.param("message=a&interval=3601", "interval", id="interval-too-large"),
    pytest.param("message=a&interval=nan", "interval", id="interval-nan"),
    pytest.param("message=a&interval=1&interval=2", "interval", id="interval-twice"),
    pytest.param("message=a&limit=0", "limit", id="limit-zero"),
    pytest.param("message=a&limit=1.5", "limit", id="limit-fraction"),
    pytest.param("message=a&limit=many", "limit", id="limit-not-a-number"),
    pytest.param("message=a&limit=1&limit=2", "limit", id="limit-twice"),
]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(("query", "parameter"), BAD_QUERIES)
def test_bad_query_gets_a_json_400_naming_the_parameter(path: str, query: str, parameter: str) -> None:
    response = Client().get(f"{path}?{query}")

    assert_invalid_parameter(response, parameter)


def test_duplicated_parameter_is_reported_once() -> None:
    body = assert_invalid_parameter(Client().get("/sse2?message=a&message=b"), "message")

    assert body["errors"] == [{"parameter": "message", "detail": "given more than once"}]


def test_every_bad_parameter_is_listed() -> None:
    body = assert_invalid_parameter(Client().get("/sse3?interval=-1&limit=0"), "message")

    assert [error["parameter"] for error in body["errors"]] == ["message", "interval", "limit"]


def test_message_length_limit_follows_the_setting() -> None:
    with override_settings(ECHO={"MESSAGE_MAX_LENGTH": 5}):
        assert_invalid_parameter(Client().get("/sse2?message=abcdef"), "message")


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_other_methods_get_a_json_405_with_allow(path: str, method: str) -> None:
    # CSRF checks on: the views are exempt, so a POST still gets the JSON 405 rather than a 403.
    client = Client(enforce_csrf_checks=True)

    response = getattr(client, method)(f"{path}?message=hi")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "method_not_allowed",
        "detail": f"{method.upper()} is not allowed here.",
        "allowed": ["GET", "HEAD"],
    }


async def body_of(response: Any) -> bytes:
    if not response.is_async:  # the test client empties a HEAD response's body itself, with a list
        return b"".join(response.streaming_content)
    async with asyncio.timeout(10):
        return b"".join([part async for part in response.streaming_content])


@pytest.mark.usefixtures("unrecorded")
@pytest.mark.parametrize("path", ENDPOINTS)
def test_get_streams_events_through_the_middleware(path: str) -> None:
    async def main() -> tuple[Any, bytes]:
        response = await AsyncClient().get(path, {"message": "hi", "interval": "0", "limit": "2"})
        return response, await body_of(response)

    response, body = run(main())

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert body.count(b"\n\n") == 3
    assert body.startswith(b"id: 0\nevent: echo\ndata: ")
    assert body.endswith(b'\n\nevent: completed\ndata: {"reason":"completed"}\n\n')


@pytest.mark.usefixtures("unrecorded")
@pytest.mark.parametrize("path", ENDPOINTS)
def test_head_gets_stream_headers_and_no_body(path: str) -> None:
    async def main() -> tuple[Any, bytes]:
        # No limit: a started stream would never end.
        response = await AsyncClient().head(path, {"message": "hi", "interval": "0"})
        return response, await body_of(response)

    response, body = run(main())

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert body == b""
