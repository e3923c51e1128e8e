"""When PostgreSQL notifications carry events (`echo.broadcast.notify`), and the storage poll
resting meanwhile. Notifications travelling between real processes are tested in
tests/database/test_postgres_live.py."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection
from django.test import override_settings

from echo.broadcast import notify
from echo.broadcast import poll as poll_module
from echo.broadcast.mode import describe
from echo.broadcast.published import Published

from ..loops import run


def test_notifications_are_on_by_default_where_events_are_stored_in_postgresql() -> None:
    postgres = connection.vendor == "postgresql"
    assert notify.enabled() is postgres
    assert (notify.problem() is None) is postgres
    assert ("LISTEN/NOTIFY" in describe()) is postgres
    with override_settings(ECHO={"BROADCAST_NOTIFY": False}):
        assert not notify.enabled()


def test_redis_carries_events_instead_unless_notifications_are_asked_for() -> None:
    with override_settings(ECHO={"REDIS_URL": "redis://127.0.0.1:1/0"}):
        assert not notify.enabled()
        assert "LISTEN/NOTIFY" not in describe()
    with override_settings(ECHO={"REDIS_URL": "redis://127.0.0.1:1/0", "BROADCAST_NOTIFY": True}):
        assert notify.enabled() is (connection.vendor == "postgresql")


def test_without_model_storage_there_is_nothing_to_notify() -> None:
    with override_settings(EVENTSTREAM_STORAGE_CLASS=None):
        assert notify.problem() == "events are not stored with django-eventstream's model storage"
        assert not notify.enabled()


class Heard:
    """A hub as the poll and the listener see it, noting when the poll looked."""

    def __init__(self) -> None:
        self.notified = True
        self.looked: list[float] = []
        self.delivered: list[Published] = []

    def settled_positions(self) -> list[tuple[str, int]]:
        self.looked.append(asyncio.get_running_loop().time())
        return []

    def skip_to(self, name: str, position: int) -> None:
        raise AssertionError("not expected")

    def deliver(self, item: Published) -> None:
        self.delivered.append(item)


def test_the_poll_rests_while_notifications_arrive_and_looks_again_when_they_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(poll_module, "_SAFETY_INTERVAL", 0.2)
    heard = Heard()

    async def main() -> None:
        task = asyncio.create_task(poll_module.poll(heard))
        try:
            async with asyncio.timeout(5):
                while len(heard.looked) < 3:
                    await asyncio.sleep(0.01)  # polling with the deadline above
            heard.notified = False
            resting = len(heard.looked)
            async with asyncio.timeout(5):
                while len(heard.looked) < resting + 5:
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()

    with override_settings(ECHO={"BROADCAST_POLL_INTERVAL": 0.01}):
        run(main())
    gaps = [b - a for a, b in zip(heard.looked, heard.looked[1:], strict=False)]
    assert all(gap >= 0.19 for gap in gaps[:2]), gaps  # while notified: the safety interval
    assert min(gaps[3:]) < 0.19, gaps  # then every interval again


def test_a_notification_that_carries_its_event_is_delivered_as_published() -> None:
    heard = Heard()
    item = Published("news", 7, "chat_message", '{"text": "hi"}')
    run(notify._deliver(heard, item.to_json()))
    run(notify._deliver(heard, "not json"))
    assert heard.delivered == [item]
