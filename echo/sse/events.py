"""Typed events: a Pydantic model per event type, named after its class."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter

from .event import ServerSentEvent

__all__ = ["BaseEvent", "event_name_for"]

T = TypeVar("T")

# A boundary before an upper-case letter that follows a lower-case letter or digit
# (ReverseEcho -> Reverse_Echo), or that starts a word after an acronym (HTTPError -> HTTP_Error).
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def event_name_for(class_name: str) -> str:
    """`ReverseEcho` -> `reverse_echo`, `HTTPError` -> `http_error`."""
    return _WORD_BOUNDARY.sub("_", class_name).lower()


class BaseEvent(BaseModel, Generic[T]):
    """An event whose payload is `data: T`.

    The wire name is the class name in snake_case; a subclass may set `event_name` itself.
    """

    model_config = ConfigDict(frozen=True)

    event_name: ClassVar[str] = "base_event"
    _data_adapter: ClassVar[TypeAdapter[Any] | None] = None

    data: T

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "event_name" not in cls.__dict__:
            # `BaseEvent[Payload]` itself is an intermediate class with a bracketed name.
            cls.event_name = event_name_for(cls.__name__.partition("[")[0])
        # Checked once here so that every event of the class is known to encode.
        ServerSentEvent(event=cls.event_name)
        cls._data_adapter = None

    @classmethod
    def create(cls, data: T) -> Self:
        return cls(data=data)

    def data_json(self) -> str:
        """The payload as compact JSON, as `payload.model_dump_json()` gives it for a model."""
        if isinstance(self.data, BaseModel):
            return self.data.model_dump_json()
        cls = type(self)
        if cls._data_adapter is None:
            annotation: Any = cls.model_fields["data"].annotation
            cls._data_adapter = TypeAdapter(annotation)
        return cls._data_adapter.dump_json(self.data).decode()

    def to_sse(self, id: str | int | None = None) -> ServerSentEvent:
        return ServerSentEvent(data=self.data_json(), event=self.event_name, id=id)
