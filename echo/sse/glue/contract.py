"""Declared events: what a stream view promises to send, read by the schema, the client and the
response itself.

`@declare(Echo, ReverseEcho, ids="composite", query=EchoQuery)` on a view (or a `StreamContract`
made once and shared with clients: `declare(SSE3)`) records the contract on the view, where
`echo.contract` finds it through the URL resolver, and hands it to the `EventStreamResponse` the
view returns. The response then checks every event it sends against the declared names: an
undeclared one ends the stream with an error while `DEBUG` is on, and is logged (once per stream
name and event) in production. The control events (`echo.sse.wire.control`) are always allowed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar, cast, overload, runtime_checkable

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from pydantic import BaseModel

from ..wire.control import CONTROL_EVENTS
from ..wire.encode import ServerSentEvent
from ..wire.typed_events import BaseEvent
from .response import EventStreamResponse

__all__ = ["DeclaredView", "IdFormat", "StreamContract", "UnknownEvent", "contract_of", "declare"]

E = TypeVar("E", bound=BaseEvent[Any])
V = TypeVar("V", bound=Callable[..., Any])

# How a stream's ids read, and so what its `Last-Event-ID` resumes from:
# "none" (no ids), "plain" (0, 1, 2 ... per stream), "composite" (`echo:3,reverse_echo:2`, the
# position of each merged source), "channel" (`news:5,alerts:2`, a broadcast position per channel).
IdFormat: TypeAlias = Literal["none", "plain", "composite", "channel"]
ID_FORMATS: tuple[IdFormat, ...] = ("none", "plain", "composite", "channel")


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event whose name a reader's contract does not know: kept as read, never a crash."""

    event: str
    data: str
    id: str | None = None


class StreamContract(Generic[E]):
    """The events a stream sends, its ids and its query parameters.

    Annotate a shared contract with the union of its events (`StreamContract[Echo | ReverseEcho]`)
    so that a typed client reading it (`echo.client`) yields exactly those types.
    """

    __slots__ = ("_by_name", "description", "events", "ids", "names", "query")

    def __init__(
        self,
        *events: type[E],
        ids: IdFormat = "plain",
        query: type[BaseModel] | None = None,
        description: str = "",
    ) -> None:
        if not events:
            raise TypeError("a stream declares at least one event type")
        given: Any
        for given in events:
            if not (isinstance(given, type) and issubclass(given, BaseEvent)):
                raise TypeError(f"a declared event is a BaseEvent subclass, not {given!r}")
        by_name: dict[str, type[BaseEvent[Any]]] = {}
        every: list[type[BaseEvent[Any]]] = [*events, *CONTROL_EVENTS]
        for cls in every:
            known = by_name.setdefault(cls.event_name, cls)
            if known is not cls:
                raise TypeError(f"two declared events are named {cls.event_name!r}: {known!r} and {cls!r}")
        if ids not in ID_FORMATS:
            raise ValueError(f"ids is one of {', '.join(ID_FORMATS)}, not {ids!r}")
        self.events: tuple[type[E], ...] = events
        self.ids = ids
        self.query = query
        self.description = description
        # Every name the stream may send: its own events and the control events.
        self.names: frozenset[str] = frozenset(by_name)
        self._by_name = by_name

    def event_type(self, name: str) -> type[BaseEvent[Any]] | None:
        """The declared (or control) event type sent as `name`."""
        return self._by_name.get(name)

    def parse(self, event: ServerSentEvent) -> BaseEvent[Any] | UnknownEvent:
        """The typed event `event` (as read from the wire) is, by its name; `UnknownEvent` for a
        name the contract does not know. A known name whose data does not fit its model raises
        Pydantic's `ValidationError`: the server broke its own contract."""
        name = event.event or "message"
        cls = self._by_name.get(name)
        if cls is None:
            return UnknownEvent(name, event.data or "", None if event.id is None else str(event.id))
        return cls.from_data(event.data or "")

    def __repr__(self) -> str:
        names = ", ".join(cls.__name__ for cls in self.events)
        return f"StreamContract({names}, ids={self.ids!r})"


@overload
def declare(contract: StreamContract[Any], /) -> Callable[[V], V]: ...


@overload
def declare(
    *events: type[BaseEvent[Any]],
    ids: IdFormat = "plain",
    query: type[BaseModel] | None = None,
    description: str = "",
) -> Callable[[V], V]: ...


def declare(*events: Any, **options: Any) -> Callable[[V], V]:
    """Declare what a stream view sends: `@declare(Echo)` or `@declare(SOME_CONTRACT)`."""
    if len(events) == 1 and isinstance(events[0], StreamContract):
        if options:
            raise TypeError("declare(contract) takes no options: they are the contract's")
        contract: StreamContract[Any] = events[0]
    else:
        contract = StreamContract(*events, **options)

    def decorator(view: V) -> V:
        wrapper: Any
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
                return _bind(await view(request, *args, **kwargs), contract)

        else:

            @functools.wraps(view)
            def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
                return _bind(view(request, *args, **kwargs), contract)

        wrapper.sse_contract = contract
        return cast(V, wrapper)

    return decorator


@runtime_checkable
class DeclaredView(Protocol):
    """A view `declare` marked with its contract (the mark is copied by `functools.wraps`)."""

    sse_contract: StreamContract[Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


def _bind(response: HttpResponseBase, contract: StreamContract[Any]) -> HttpResponseBase:
    if isinstance(response, EventStreamResponse):  # a refusal (a JSON 4xx) is left as it is
        response.declare(contract)
    return response


def contract_of(view: Callable[..., Any]) -> StreamContract[Any] | None:
    """The contract `declare` recorded on `view` (through any `functools.wraps` decorators)."""
    if isinstance(view, DeclaredView) and isinstance(view.sse_contract, StreamContract):
        return view.sse_contract
    return None
