"""Typed events: a Pydantic model per event type, named after its class."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter

from .encode import ServerSentEvent

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
    `data_format = "text"` (for a `str` payload) writes the text as it is instead of as JSON,
    for events whose `data:` is not JSON (an empty marker, a legacy text format).
    """

    model_config = ConfigDict(frozen=True)

    event_name: ClassVar[str] = "base_event"
    data_format: ClassVar[Literal["json", "text"]] = "json"
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
        annotation = cls.model_fields["data"].annotation
        if cls.data_format == "text" and isinstance(annotation, type) and annotation is not str:
            raise TypeError(f"{cls.__name__}: a text event's payload is a str")

    @classmethod
    def create(cls, data: T) -> Self:
        return cls(data=data)

    @classmethod
    def data_adapter(cls) -> TypeAdapter[Any]:
        """A `TypeAdapter` of the payload's type: its JSON Schema, and validation of read data."""
        if cls._data_adapter is None:
            annotation: Any = cls.model_fields["data"].annotation
            cls._data_adapter = TypeAdapter(annotation)
        return cls._data_adapter

    @classmethod
    def from_data(cls, data: str) -> Self:
        """The event whose `data:` field reads `data` (JSON, or the text itself for a text event)."""
        if cls.data_format == "text":
            return cls(data=data)
        return cls(data=cls.data_adapter().validate_json(data))

    def data_json(self) -> str:
        """The payload as compact JSON, as `payload.model_dump_json()` gives it for a model (for a
        text event, the text itself)."""
        if type(self).data_format == "text":
            return str(self.data)
        if isinstance(self.data, BaseModel):
            return self.data.model_dump_json()
        return type(self).data_adapter().dump_json(self.data).decode()

    def to_sse(self, id: str | int | None = None, *, retry: int | None = None) -> ServerSentEvent:
        return ServerSentEvent(data=self.data_json(), event=self.event_name, id=id, retry=retry)
