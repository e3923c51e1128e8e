"""A small hostile HTTP server on 127.0.0.1 for the client's tests. Each connection is answered by
a function of its number (1, 2, ...) that writes raw bytes on the socket, so that nothing between
it and the client tidies what it sends: lines without an end, bodies without a limit, headers no
server would write. The server counts the connections, when each arrived, and what it managed to
send on each before the client went away."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Peer", "Respond", "hostile", "refuse_after", "sse_head"]

BLOCK = b"x" * 65536
# A handler blocked on a client that neither reads nor closes gives up after this: stopping the
# server joins every handler.
SOCKET_TIMEOUT = 30.0


@dataclass
class Peer:
    """One accepted connection: its number, when it arrived, the bytes sent on it, and whether the
    answer was sent to its end (False when the client closed first)."""

    number: int
    arrived: float
    sock: socket.socket = field(repr=False)
    sent: int = 0
    finished: bool = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.sent += len(data)

    def send_filler(self, size: int, pattern: bytes = BLOCK) -> None:
        """`size` bytes of `pattern` repeated, written a block at a time (nothing of that size is
        ever held here)."""
        while size > 0:
            part = pattern if size >= len(pattern) else pattern[:size]
            self.send(part)
            size -= len(part)


Respond = Callable[[Peer], None]


def sse_head(status: int = 200, **headers: str) -> bytes:
    """A response head that closes the connection after the body (no length: the body runs to the
    close)."""
    lines = [f"HTTP/1.1 {status} Hostile", "Content-Type: text/event-stream", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def refuse_after(count: int, respond: Respond) -> Respond:
    """`respond` for the first `count` connections, then a 404: a client that would otherwise come
    back forever (the behaviour under test, before its fix) ends with `StreamRefused` instead of
    hanging the test."""

    def answer(peer: Peer) -> None:
        if peer.number <= count:
            respond(peer)
        else:
            body = b'{"error": "enough"}'
            head = f"HTTP/1.1 404 Enough\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
            peer.send(head.encode() + b"\r\nConnection: close\r\n\r\n" + body)

    return answer


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins every handler thread

    def __init__(self, respond: Respond) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.respond = respond
        self.peers: list[Peer] = []
        self.lock = threading.Lock()


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(SOCKET_TIMEOUT)
        with self.server.lock:
            peer = Peer(len(self.server.peers) + 1, time.monotonic(), sock)
            self.server.peers.append(peer)
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                got = sock.recv(4096)
                if not got:
                    return
                head += got
            self.server.respond(peer)
            peer.finished = True
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the client went away first: what the tests provoke


class Hostile:
    def __init__(self, server: _Server) -> None:
        self._server = server

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def peers(self) -> list[Peer]:
        with self._server.lock:
            return list(self._server.peers)


@contextmanager
def hostile(respond: Respond) -> Iterator[Hostile]:
    """A server on a free loopback port for the block, stopped (every handler joined) after it."""
    server = _Server(respond)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Hostile(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
