"""The benchmark's reference server: the article's typed `/sse2` on FastAPI + sse-starlette.

The project's `/sse2` contract (events `echo`, ids from 0, JSON payload, `limit`), written as
sse-starlette's users write it: `EventSourceResponse` over an async generator of
`ServerSentEvent`s. Two choices copy the project so that the bench compares servers, not
schedules: an absolute schedule (start + (n + 1) * interval), and `interval=0` only yields.
The rest is sse-starlette's default, pings every 15 s included (`REFERENCE_PING=0`: none).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

PING = None if os.environ.get("REFERENCE_PING", "") == "" else float(os.environ["REFERENCE_PING"])
app = FastAPI(title="sse-starlette reference for the echo benchmark")


class EchoPayload(BaseModel):
    message: str
    created_at: datetime = Field(default_factory=datetime.now)


async def ticks(interval: float) -> AsyncIterator[int]:
    """0, 1, 2, ... the n-th at `(n + 1) * interval` seconds from now; no sleep for 0."""
    if interval == 0:
        for n in itertools.count():
            await asyncio.sleep(0)
            yield n
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in itertools.count():
        await asyncio.sleep(max(0.0, start + (n + 1) * interval - loop.time()))
        yield n


async def echo(message: str, interval: float, limit: int | None) -> AsyncIterator[ServerSentEvent]:
    async for n in ticks(interval):
        payload = EchoPayload(message=message)
        yield ServerSentEvent(id=str(n), event="echo", data=payload.model_dump_json())
        if n + 1 == limit:
            return


@app.get("/sse2")
async def sse2(
    message: Annotated[str, Query(min_length=1, max_length=1000)],
    interval: Annotated[float, Query(ge=0, le=3600, allow_inf_nan=False)] = 1.0,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> EventSourceResponse:
    return EventSourceResponse(echo(message, interval, limit), ping=PING)
