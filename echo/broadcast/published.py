"""`Published`: one broadcast event as it travels between publishers, processes and subscribers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

from echo.sse import ServerSentEvent

__all__ = ["Published"]


@dataclass(slots=True)
class Published:
    """One broadcast event as delivered: the channel's id for it is None when it is not stored."""

    channel: str
    id: int | None
    event: str
    data: str
    # When it was published (`time.time()`), for the delivery lag; None when read from storage.
    at: float | None = None
    _sse: ServerSentEvent | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> str:
        return json.dumps(
            {"channel": self.channel, "id": self.id, "event": self.event, "data": self.data, "at": self.at}
        )

    def to_json_around_id(self) -> tuple[str, str]:
        """`to_json()` as the text before and after the id, for a statement that numbers the
        event itself (`head + str(id) + tail` is what `to_json()` gives once it has that id)."""
        head = f'{{"channel": {json.dumps(self.channel)}, "id": '
        at = json.dumps(self.at)
        return head, f', "event": {json.dumps(self.event)}, "data": {json.dumps(self.data)}, "at": {at}}}'

    @classmethod
    def from_json(cls, raw: str | bytes) -> Published:
        body = json.loads(raw)
        at = body.get("at")
        return cls(
            str(body["channel"]),
            body["id"],
            str(body["event"]),
            str(body["data"]),
            float(at) if isinstance(at, int | float) else None,
        )

    def single_channel_event(self) -> ServerSentEvent:
        """The event as a one-channel subscriber receives it; built and encoded once for all."""
        if self._sse is None:
            event_id = None if self.id is None else f"{quote(self.channel)}:{self.id}"
            self._sse = ServerSentEvent(data=self.data, event=self.event, id=event_id)
        return self._sse
