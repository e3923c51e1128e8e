"""The control bus's own layers, for a site with neither a channel layer nor Redis: the database's.

Both do the part of the channels layer API the bus uses (`ControlLayer`), for one process's
listener per event loop:

- `NotifyLayer` (sessions stored in PostgreSQL): `NOTIFY echo_sessions`, heard by one `LISTEN`
  connection per listener (psycopg 3, async, autocommit); a send opens a short connection of its own.
- `SocketDirLayer` (sessions stored in an SQLite file, so every process using it is on this
  machine): a unix datagram socket per listener in a directory of the user's own named after the
  database file (`$TMPDIR/echo-bus-<uid>-<hash>`, mode 0700); a send writes to every socket there
  and removes those nobody holds any more (a process killed before it could).

A message travels as JSON, cut into pieces under each carrier's limit (PostgreSQL's 8000 bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import stat
import tempfile
import uuid
from pathlib import Path
from typing import Any, Protocol

from django.db import connections

from echo.sse.glue.django_internals import connection_params

__all__ = ["ControlLayer", "NotifyLayer", "SocketDirLayer", "pieces"]

CHANNEL = "echo_sessions"
_NOTIFY_LIMIT = 7999
_DATAGRAM_LIMIT = 60_000


class ControlLayer(Protocol):
    """What the bus asks of a layer: channels' own method names and meanings."""

    async def new_channel(self, prefix: str = ...) -> str: ...
    async def group_add(self, group: str, channel: str) -> None: ...
    async def group_discard(self, group: str, channel: str) -> None: ...
    async def group_send(self, group: str, message: dict[str, Any]) -> None: ...
    async def receive(self, channel: str) -> dict[str, Any]: ...


def pieces(message: dict[str, Any], limit: int) -> list[bytes]:
    """`message` as JSON in pieces of at most `limit` bytes, its `ids` and `users` shared out."""
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) <= limit:
        return [body]
    ids, users = list(message.get("ids", [])), list(message.get("users", []))
    if len(ids) + len(users) <= 1:
        raise ValueError("a control message too large to send")
    half_ids, half_users = len(ids) // 2, len(users) // 2
    first = {**message, "ids": ids[:half_ids], "users": users[:half_users]}
    second = {**message, "ids": ids[half_ids:], "users": users[half_users:]}
    return pieces(first, limit) + pieces(second, limit)


class NotifyLayer:
    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._listening: dict[str, Any] = {}  # channel -> its LISTEN connection

    def _params(self) -> dict[str, Any]:
        params = connection_params(self.alias)
        # Django's adapters and cursor class are for its sync connection; these read text.
        for key in ("context", "cursor_factory", "prepare_threshold"):
            params.pop(key, None)
        return params

    async def new_channel(self, prefix: str = "echo-bus.") -> str:
        return prefix + uuid.uuid4().hex

    async def group_add(self, group: str, channel: str) -> None:
        import psycopg

        db = self._listening.get(channel)
        if db is not None and not db.closed and not db.broken:
            return
        db = await psycopg.AsyncConnection.connect(autocommit=True, **self._params())
        await db.execute(f"LISTEN {CHANNEL}")
        self._listening[channel] = db

    async def group_discard(self, group: str, channel: str) -> None:
        db = self._listening.pop(channel, None)
        if db is not None:
            await db.close()

    async def receive(self, channel: str) -> dict[str, Any]:
        db = self._listening.get(channel)
        if db is None or db.closed or db.broken:
            # Lost: group_add (the bus's retry) connects again.
            raise ConnectionError("the session control listener's connection is closed")
        while True:
            async for note in db.notifies(timeout=60.0):
                found: dict[str, Any] = json.loads(note.payload)
                return found

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        import psycopg

        async with await psycopg.AsyncConnection.connect(autocommit=True, **self._params()) as db:
            for piece in pieces(message, _NOTIFY_LIMIT):
                await db.execute("SELECT pg_notify(%s, %s)", [CHANNEL, piece.decode()])


class SocketDirLayer:
    def __init__(self, database: str) -> None:
        digest = hashlib.sha256(os.path.realpath(database).encode()).hexdigest()[:16]
        self.directory = Path(tempfile.gettempdir()) / f"echo-bus-{os.getuid()}-{digest}"
        self._sockets: dict[str, socket.socket] = {}

    def _own_directory(self) -> Path:
        """The directory, made if missing; refused unless it is this user's alone (nobody else may
        send a terminate or read who is ended)."""
        self.directory.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(self.directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise PermissionError(f"{self.directory} is not a directory of this user's alone (mode 0700)")
        return self.directory

    async def new_channel(self, prefix: str = "echo-bus.") -> str:
        return f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:12]}"

    async def group_add(self, group: str, channel: str) -> None:
        if channel in self._sockets:
            return
        path = self._own_directory() / f"{channel}.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            sock.bind(str(path))
        except OSError:
            sock.close()
            raise
        self._sockets[channel] = sock

    async def group_discard(self, group: str, channel: str) -> None:
        sock = self._sockets.pop(channel, None)
        if sock is not None:
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(self.directory / f"{channel}.sock")

    async def receive(self, channel: str) -> dict[str, Any]:
        sock = self._sockets.get(channel)
        if sock is None:
            raise ConnectionError("the session control listener's socket is closed")
        data = await asyncio.get_running_loop().sock_recv(sock, _DATAGRAM_LIMIT)
        found: dict[str, Any] = json.loads(data)
        return found

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        pending = pieces(message, _DATAGRAM_LIMIT)
        unreachable = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for path in self._own_directory().glob("*.sock"):
                try:
                    for piece in pending:
                        sender.sendto(piece, str(path))
                except (ConnectionRefusedError, FileNotFoundError):
                    # Nobody holds it: a process that was killed. Its file goes.
                    with contextlib.suppress(OSError):
                        path.unlink()
                except OSError as exc:  # a listener whose queue is full: said, the others still told
                    unreachable.append(f"{path.name} ({exc.strerror})")
        if unreachable:
            raise OSError(f"could not reach {', '.join(unreachable)}")


def database_layer(alias: str) -> ControlLayer | None:
    """The layer the sessions' database offers, or None (an SQLite database in memory, say)."""
    connection = connections[alias]
    if connection.vendor == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return None
        return NotifyLayer(alias)
    name = str(connection.settings_dict.get("NAME") or "")
    if connection.vendor == "sqlite" and name and ":memory:" not in name and "mode=memory" not in name:
        return SocketDirLayer(name)
    return None
