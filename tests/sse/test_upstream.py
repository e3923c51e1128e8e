"""The private details of Django that `echo.sse` relies on (listed in each module's docstring)."""

from __future__ import annotations

import inspect

from django.core.handlers import asgi as django_asgi
from django.http import HttpResponse, StreamingHttpResponse

from echo.sse import EventStreamResponse


async def _nothing():  # type: ignore[no-untyped-def]
    return
    yield b""


def test_responses_keep_their_resource_closers_in_a_list() -> None:
    response = HttpResponse()
    assert isinstance(response._resource_closers, list)


def test_a_streaming_response_keeps_its_async_iterator() -> None:
    response = StreamingHttpResponse(_nothing())
    assert response.is_async
    assert hasattr(response._iterator, "__anext__")


def test_event_stream_response_iterates_its_encoded_parts_directly() -> None:
    response = EventStreamResponse(_nothing(), ping=None)
    assert aiter(response) is response._iterator  # type: ignore[attr-defined]


def test_djangos_asgi_handler_has_the_steps_echos_handler_calls() -> None:
    handler = django_asgi.ASGIHandler
    for name in ("read_body", "create_request", "run_get_response", "send_response", "chunk_bytes"):
        assert callable(getattr(handler, name)), name
    assert list(inspect.signature(handler.listen_for_disconnect).parameters) == ["self", "receive"]
