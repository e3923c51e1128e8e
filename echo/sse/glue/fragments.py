"""`Fragment`: an event whose data is HTML rendered from a Django template.

    class PriceTick(Fragment[Price]):
        template_name = "prices/tick.html"

    PriceTick.render(Price(symbol="ACME", price=12.5))

The context is a Pydantic model, validated before it reaches the template; the template renders
with Django's autoescaping, so a value holding markup arrives as text. The HTML is written as it
is, one `data:` line per line (`echo.sse.wire.encode`), so a browser's `EventSource` (and htmx's
SSE extension, `sse-swap="price_tick"`) receives it whole.

The payload is HTML, so only HTML that Django marked safe is accepted as it is: a rendered
template, or text passed through `mark_safe`. Anything else given as the payload (a dict, the
context model) is validated as the context and rendered; a plain `str` is refused, so that a
publisher over HTTP (`POST /events/<channel>/publish`) sends a context, never markup of its own.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

from django.template.loader import render_to_string
from django.utils.safestring import SafeData, mark_safe
from pydantic import BaseModel, model_validator

from ..wire.typed_events import BaseEvent

__all__ = ["Fragment"]

C = TypeVar("C", bound=BaseModel)

_UNSAFE = (
    "a fragment's data is rendered HTML: give its context ({context}) or use {name}.render(...); "
    "plain text is taken as HTML only through django.utils.safestring.mark_safe"
)


class Fragment(BaseEvent[str], Generic[C]):
    """An event whose `data:` is the HTML of `template_name` rendered with a context of type `C`."""

    data_format: ClassVar[Literal["json", "text"]] = "text"
    template_name: ClassVar[str] = ""
    context_model: ClassVar[type[BaseModel] | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        context = _context_argument(cls)
        if context is not None:
            cls.context_model = context
        # `Fragment[Price]` itself is an intermediate class: its subclasses name the template.
        concrete = cls.__pydantic_generic_metadata__["origin"] is None and cls.context_model is not None
        if concrete and not cls.template_name:
            raise TypeError(f"{cls.__name__}: a fragment names its template_name")

    @classmethod
    def render(cls, context: C) -> Self:
        """The event whose data is the template rendered with `context`."""
        return cls(data=cls._render(context))

    @classmethod
    def from_data(cls, data: str) -> Self:
        # Read back from the wire: the HTML is what the server rendered.
        return cls(data=mark_safe(data))

    @classmethod
    def _render(cls, context: Any) -> str:
        model = cls.context_model
        if model is None or not cls.template_name:
            raise TypeError(f"{cls.__name__} is not a concrete fragment: subclass Fragment[Context]")
        values = model.model_validate(context)
        # The fields (and `@computed_field`s) themselves, not a dump: dates, decimals and nested
        # models reach the template's filters as the objects they are.
        names = [*type(values).model_fields, *type(values).model_computed_fields]
        return render_to_string(cls.template_name, {name: getattr(values, name) for name in names})

    @model_validator(mode="before")
    @classmethod
    def _rendered(cls, value: Any) -> Any:
        if not isinstance(value, dict) or "data" not in value:
            return value
        data = value["data"]
        if isinstance(data, SafeData):
            return value
        if isinstance(data, str) or cls.context_model is None:
            context = cls.context_model.__name__ if cls.context_model else "a model"
            raise ValueError(_UNSAFE.format(context=context, name=cls.__name__))
        return {**value, "data": cls._render(data)}


def _context_argument(cls: type[Fragment[Any]]) -> type[BaseModel] | None:
    """`Price` for a class made from `Fragment[Price]`, read from Pydantic's generic metadata."""
    for base in cls.__mro__:
        metadata = getattr(base, "__pydantic_generic_metadata__", None)
        if metadata and metadata["origin"] is Fragment and metadata["args"]:
            argument = metadata["args"][0]
            if isinstance(argument, type) and issubclass(argument, BaseModel):
                return argument
    return None
