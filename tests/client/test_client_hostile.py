"""`echo.client` against a hostile server (tests/client/hostile.py): what a server can make the
client hold, how often it can make it connect, and how long it can make it wait, sync and async
alike. Each test reads one stream to its end or its error with the client's defaults except where
the test says, so that it runs unchanged against a client that lacks the bound it checks."""

from __future__ import annotations

import tracemalloc
import zlib
from itertools import pairwise
from typing import Any

import pytest

from echo.client import (
    AsyncClient,
    Client,
    ClientError,
    EventTooLarge,
    Reconnect,
    ReconnectFailed,
    StreamRefused,
    UnknownEvent,
)
from echo.demo.streams import Echo

from ..loops import run
from .hostile import Peer, Respond, hostile, refuse_after, sse_head

MiB = 1024 * 1024
MODES = ["sync", "async"]


def read(mode: str, url: str, reconnect: Reconnect | None = None, count: int = 1_000) -> list[Any]:
    """At most `count` items of `url`'s stream, read by the sync or the async client."""
    if mode == "sync":
        with Client(url, reconnect=reconnect) as client, client.stream("/", Echo) as stream:
            return [item for _, item in zip(range(count), stream, strict=False)]

    async def main() -> list[Any]:
        items: list[Any] = []
        async with AsyncClient(url, reconnect=reconnect) as client, client.stream("/", Echo) as stream:
            async for item in stream:
                items.append(item)
                if len(items) == count:
                    break
        return items

    return run(main())


def huge_line(peer: Peer) -> None:
    peer.send(sse_head() + b"data: ")
    peer.send_filler(32 * MiB)


def huge_event(peer: Peer) -> None:
    peer.send(sse_head() + b"event: undeclared\n")
    peer.send_filler(32 * MiB, b"data: " + b"y" * 1017 + b"\n")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("respond", [huge_line, huge_event], ids=["line", "event"])
def test_an_event_past_the_limit_raises_and_is_never_held_whole(mode: str, respond: Respond) -> None:
    with hostile(refuse_after(2, respond)) as server:
        tracemalloc.start()
        try:
            with pytest.raises(EventTooLarge) as raised:
                read(mode, server.url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        peers = server.peers

    assert raised.value.limit == MiB  # the default
    assert len(peers) == 1  # not read again
    assert not peers[0].finished  # the client closed the connection part-way through 32 MiB
    assert peak < 8 * MiB, f"{peak / MiB:.1f} MiB held for a limit of 1 MiB"


def compressed(parts: list[bytes], wbits: int = 31) -> bytes:
    """`parts` gzip-compressed (deflate with a zlib header for wbits 15)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return b"".join(packer.compress(part) for part in parts) + packer.flush()


def gzip_bomb(peer: Peer) -> None:
    # 64 MiB of one unended line in about 64 KiB: httpx inflates each network chunk whole.
    peer.send(sse_head(Content_Encoding="gzip") + compressed([b"data: "] + [bytes(MiB)] * 64))


@pytest.mark.parametrize("mode", MODES)
def test_a_compressed_line_is_inflated_a_bounded_piece_at_a_time(mode: str) -> None:
    with hostile(refuse_after(2, gzip_bomb)) as server:
        tracemalloc.start()
        try:
            with pytest.raises(EventTooLarge):
                read(mode, server.url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert peak < 8 * MiB, f"{peak / MiB:.1f} MiB held for a limit of 1 MiB"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("coding", "wbits"), [("gzip", 31), ("deflate", 15)])
def test_a_compressed_stream_is_read(mode: str, coding: str, wbits: int) -> None:
    events = [b"id: %d\nevent: tick\ndata: %d\n\n" % (n, n) for n in range(3)]

    def gzipped(peer: Peer) -> None:
        peer.send(sse_head(Content_Encoding=coding) + compressed(events, wbits))

    with hostile(gzipped) as server:
        items = read(mode, server.url, count=3)

    assert [(item.event, item.data, item.id) for item in items] == [
        ("tick", str(n), str(n)) for n in range(3)
    ]


def error_body(peer: Peer) -> None:
    size = 32 * MiB
    peer.send(f"HTTP/1.1 400 Bad\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n".encode())
    peer.send_filler(size)


@pytest.mark.parametrize("mode", MODES)
def test_an_error_body_is_read_to_64_kib_at_most(mode: str) -> None:
    with hostile(error_body) as server:
        with pytest.raises(StreamRefused) as refused:
            read(mode, server.url)
        peers = server.peers

    assert refused.value.status == 400
    assert isinstance(refused.value.body, str)
    assert 0 < len(refused.value.body) <= 65536
    assert len(str(refused.value)) <= 65536 + 16
    assert len(peers) == 1
    assert not peers[0].finished  # the rest was never read: the connection closed


def retry_zero_then_close(peer: Peer) -> None:
    peer.send(sse_head() + b"retry: 0\n\n")


def empty_body(peer: Peer) -> None:
    peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 0\r\n\r\n")


def comment_only(peer: Peer) -> None:
    peer.send(sse_head() + b": nothing to see\n\nid: 5\n")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "respond", [retry_zero_then_close, empty_body, comment_only], ids=["retry-0", "empty", "comment"]
)
def test_connections_that_deliver_no_event_count_towards_max_attempts(mode: str, respond: Respond) -> None:
    with hostile(refuse_after(50, respond)) as server:
        with pytest.raises(ReconnectFailed) as failed:
            read(mode, server.url, Reconnect(delay=0.01, max_attempts=3))
        peers = server.peers

    assert failed.value.attempts == 3
    assert len(peers) == 3


def one_event_retry_zero(peer: Peer) -> None:
    peer.send(sse_head() + b"retry: 0\nevent: tick\ndata: %d\n\n" % peer.number)


@pytest.mark.parametrize("mode", MODES)
def test_connections_are_spaced_by_the_floor_whatever_retry_says(mode: str) -> None:
    with hostile(refuse_after(5, one_event_retry_zero)) as server:
        items = read(mode, server.url, count=5)
        peers = server.peers

    assert [item.data for item in items] == ["1", "2", "3", "4", "5"]
    assert all(isinstance(item, UnknownEvent) for item in items)
    gaps = [later.arrived - earlier.arrived for earlier, later in pairwise(peers)]
    # The default floor is 100 ms; a slow machine only widens the gaps.
    assert min(gaps) >= 0.099, gaps


RETRY_AFTERS = [
    "1000000000000",
    "999999999",
    "9" * 400,
    "1e400",
    "-5",
    "soon",
    "Wed, 21 Oct 2099 07:28:00 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("value", RETRY_AFTERS, ids=lambda value: value[:20])
def test_retry_after_is_clamped_to_the_maximum_delay_whatever_it_says(mode: str, value: str) -> None:
    def unavailable(peer: Peer) -> None:
        peer.send(sse_head(503, Retry_After=value))

    with hostile(unavailable) as server:
        with pytest.raises(ClientError) as failed:
            read(mode, server.url, Reconnect(delay=0.01, max_delay=0.05, max_attempts=3))
        peers = server.peers

    assert isinstance(failed.value, ReconnectFailed)
    assert len(peers) == 3
