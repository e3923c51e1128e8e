"""`echo.sse.runtime.inbox.Inbox`: the ASGI receive queue `echo.server` hands each Daphne connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from echo.sse.runtime.inbox import Inbox

from ..loops import run


def test_messages_come_out_in_order_and_get_waits_for_the_next() -> None:
    run(_test_messages_come_out_in_order_and_get_waits_for_the_next())


async def _test_messages_come_out_in_order_and_get_waits_for_the_next() -> None:
    inbox = Inbox()
    assert inbox  # Daphne tests `if self.application_queue:`
    assert inbox.empty()
    assert inbox.qsize() == 0
    inbox.put_nowait({"type": "http.request", "body": b"a", "more_body": True})
    inbox.put_nowait({"type": "http.request", "body": b"b"})
    assert inbox.qsize() == 2
    assert (await inbox.get())["body"] == b"a"
    assert inbox.get_nowait()["body"] == b"b"
    with pytest.raises(asyncio.QueueEmpty):
        inbox.get_nowait()

    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    inbox.put_nowait({"type": "http.disconnect"})
    assert await asyncio.wait_for(waiting, 1) == {"type": "http.disconnect"}


def test_a_cancelled_getter_passes_its_message_to_the_next() -> None:
    run(_test_a_cancelled_getter_passes_its_message_to_the_next())


async def _test_a_cancelled_getter_passes_its_message_to_the_next() -> None:
    inbox = Inbox()
    first = asyncio.create_task(inbox.get())
    second = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("m")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "m"
    assert first.cancelled()
    assert inbox.empty()


def test_a_cancelled_getter_leaves_no_waiter_behind() -> None:
    run(_test_a_cancelled_getter_leaves_no_waiter_behind())


async def _test_a_cancelled_getter_leaves_no_waiter_behind() -> None:
    inbox = Inbox()
    getter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    inbox.put_nowait("m")
    assert inbox.get_nowait() == "m"


def test_watch_reports_waiting_messages_then_calls_back_for_each_new_one() -> None:
    run(_test_watch_reports_waiting_messages_then_calls_back_for_each_new_one())


async def _test_watch_reports_waiting_messages_then_calls_back_for_each_new_one() -> None:
    inbox = Inbox()
    inbox.put_nowait("early")
    seen: list[Any] = []
    assert inbox.watch(seen.append) == ["early"]
    inbox.put_nowait("later")
    assert seen == ["later"]
    assert inbox.watch(None) == ["early", "later"]  # watching reads nothing
    inbox.put_nowait("unwatched")
    assert seen == ["later"]
