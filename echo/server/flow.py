"""`FlowControl`: Twisted's producer signal, as something a coroutine can wait on.

Daphne's `send` never waits: Twisted buffers whatever it is given, so a client that stops reading
makes the server buffer a fast stream without bound. A push producer registered on the request
(Twisted's `Request.registerProducer`, its documented consumer interface) is paused by the
transport when more than its buffer size (`ECHO["SEND_HIGH_WATER"]`) is queued and resumed when
the queue drains; `DirectSend` waits while it is paused, so a stream stops pulling its source,
and `write_now` refuses (the broadcast hub then leaves the event to the subscriber's own task).
"""

from __future__ import annotations

import asyncio

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

__all__ = ["FlowControl"]


@implementer(IPushProducer)
class FlowControl:
    __slots__ = ("_resumed",)

    def __init__(self) -> None:
        self._resumed: asyncio.Future[None] | None = None

    @property
    def paused(self) -> bool:
        return self._resumed is not None

    def pauseProducing(self) -> None:
        if self._resumed is None:
            self._resumed = asyncio.get_running_loop().create_future()

    def resumeProducing(self) -> None:
        resumed, self._resumed = self._resumed, None
        if resumed is not None and not resumed.done():
            resumed.set_result(None)

    def stopProducing(self) -> None:
        # The connection is going away: nobody should wait for it to drain.
        self.resumeProducing()

    async def wait(self) -> None:
        """Return once the transport wants data again."""
        while (resumed := self._resumed) is not None:
            # Shielded: a cancelled waiter must not cancel the future other sends share.
            await asyncio.shield(resumed)
