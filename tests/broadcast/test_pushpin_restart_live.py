"""Pushpin restarted with a client connected through it: the client (echo.client, reconnecting as
`EventSource` does) comes back through the new Pushpin with its Last-Event-ID and reads every
event once and in order: those published before, while Pushpin was down (stored, replayed by
Django's GRIP answer), and after."""

from __future__ import annotations

import uuid

import pytest

from echo.client import Client, Reconnect
from echo.demo.messages import ChatMessage

from ..client.test_client_live import Reader
from ..servers import daphne, wait_for
from .pushpin import pushpin, require_pushpin, reserve_ports
from .test_scaleout_live import publish_http

pytestmark = pytest.mark.live

FAST = Reconnect(delay=0.1, max_delay=0.5, jitter=0.5, max_attempts=200)
COUNT = 9


def test_a_client_through_a_restarted_pushpin_reads_every_event_once_in_order(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    require_pushpin()
    channel = f"pushpin-restart-{uuid.uuid4().hex[:8]}"
    http_port, publish_port = reserve_ports()
    # Short folders: Pushpin's ZeroMQ sockets are files there, a socket's path at most 107 bytes.
    tmp_path, first_dir, second_dir = (tmp_path_factory.mktemp(name) for name in ("ppd", "pp1", "pp2"))
    ports = {"http_port": http_port, "publish_port": publish_port}
    proxied = f"http://127.0.0.1:{http_port}"
    with (
        daphne(tmp_path, GRIP_URL=f"http://127.0.0.1:{publish_port}") as django,
        Client(proxied, reconnect=FAST) as client,
    ):
        with pushpin(first_dir, origin_port=django.port, **ports):
            stream = client.stream(f"/events/{channel}/", [ChatMessage])
            reader = Reader(stream, COUNT)
            reader.start()
            wait_for(lambda: stream.connections >= 1, what="the subscription through pushpin")
            for n in range(3):
                publish_http(django, channel, f"before {n}")
            wait_for(lambda: len(reader.items) == 3, timeout=20, what="three events through pushpin")
        # Pushpin is gone (the client retries meanwhile); events go on being stored.
        for n in range(3):
            publish_http(django, channel, f"while down {n}")
        with pushpin(second_dir, origin_port=django.port, **ports):
            wait_for(lambda: len(reader.items) == 6, timeout=30, what="the missed events, replayed")
            for n in range(3):
                publish_http(django, channel, f"after {n}")
            # Read to the end while the client, Pushpin and Django are all still there.
            texts = [item.data.text for item in reader.result()]
    assert texts == [f"{phase} {n}" for phase in ("before", "while down", "after") for n in range(3)]
    assert stream.last_event_id == f"{channel}:{COUNT}"
    assert stream.connections >= 2
