"""Checked by mypy in `test_typing.py`, never run: what a reader of a declared contract is typed as."""

from __future__ import annotations

from typing import assert_type

from echo.client import AsyncClient, Client, UnknownEvent
from echo.demo.contracts import SSE2, SSE3
from echo.demo.messages import ChatMessage
from echo.demo.streams import Echo, ReverseEcho


def sync_reader(client: Client) -> None:
    for event in client.stream("/sse3", SSE3):
        assert_type(event, Echo | ReverseEcho | UnknownEvent)
        if isinstance(event, Echo):
            assert_type(event.data.message, str)
    for single in client.stream("/sse2", SSE2):
        assert_type(single, Echo | UnknownEvent)
    for message in client.stream("/events/demo/", ChatMessage):
        assert_type(message, ChatMessage | UnknownEvent)


async def async_reader(client: AsyncClient) -> None:
    async for event in client.stream("/sse3", SSE3):
        assert_type(event, Echo | ReverseEcho | UnknownEvent)
