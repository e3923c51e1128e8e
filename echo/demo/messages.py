"""The typed event of the broadcast demo: a short text message."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from echo.sse import BaseEvent

__all__ = ["ChatMessage", "MessagePayload"]


class MessagePayload(BaseModel):
    text: str = Field(min_length=1, max_length=1000)
    sent_at: datetime = Field(default_factory=datetime.now)


class ChatMessage(BaseEvent[MessagePayload]):
    pass
