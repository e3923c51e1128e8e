"""`echo.sessions.transports`: the bus's own layers over the sessions' database, in one process."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from echo.sessions.transports import SocketDirLayer, pieces

from ..loops import run


def test_a_message_over_the_limit_is_cut_into_pieces_that_keep_every_id() -> None:
    ids = [f"{n:032x}" for n in range(500)]
    found = pieces({"type": "echo.terminate", "ids": ids, "users": [1, 2, 3]}, 7999)
    assert len(found) > 1
    assert all(len(piece) <= 7999 for piece in found)
    decoded = [json.loads(piece) for piece in found]
    assert [i for body in decoded for i in body["ids"]] == ids
    assert [u for body in decoded for u in body["users"]] == [1, 2, 3]
    assert {body["type"] for body in decoded} == {"echo.terminate"}


def test_the_socket_layer_carries_a_message_to_every_listener_and_forgets_a_dead_one(tmp_path: Path) -> None:
    layer = SocketDirLayer(str(tmp_path / "db.sqlite3"))  # its directory: named after this file

    async def main() -> list[dict[str, object]]:
        first, second, dead = [await layer.new_channel() for _ in range(3)]
        for channel in (first, second, dead):
            await layer.group_add("g", channel)
        layer._sockets.pop(dead).close()  # a process killed: its file stays, nobody reads it
        await layer.group_send("g", {"type": "echo.terminate", "ids": ["a"]})
        got = [await asyncio.wait_for(layer.receive(c), 5) for c in (first, second)]
        for channel in (first, second):
            await layer.group_discard("g", channel)
        return got

    assert run(main()) == [{"type": "echo.terminate", "ids": ["a"]}] * 2
    try:
        assert list(layer.directory.iterdir()) == []
        assert layer.directory.stat().st_mode & 0o777 == 0o700
    finally:
        layer.directory.rmdir()


def test_the_socket_layer_refuses_a_directory_others_may_write(tmp_path: Path) -> None:
    layer = SocketDirLayer(str(tmp_path / "db.sqlite3"))
    layer.directory = tmp_path / "shared"
    layer.directory.mkdir(mode=0o777)
    os.chmod(layer.directory, 0o777)

    async def main() -> None:
        await layer.group_add("g", await layer.new_channel())

    with pytest.raises(PermissionError, match="this user's alone"):
        run(main())
