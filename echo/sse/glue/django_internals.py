"""Django's undocumented internals, as echo uses them: the one module that reads them.

Django documents `get_asgi_application()`, responses, middleware and the ORM; echo's handler
(`echo.sse.glue.asgi`), its disconnect watch, the session writer and broadcast's notifications rely on
more. Every such detail is read here, listed in docs/upstream.md with the versions it was read
from (Django 5.2 in requirements.txt, 6.1 in requirements-django6.txt) and pinned by
`tests/test_upstream_adapters.py` and `tests/sse/test_upstream.py`:

1. `django.core.handlers.asgi.ASGIHandler` (`DjangoASGIHandler`), the base of echo's handler, and
   the steps of it echo's calls: `read_body`, `create_request`, `run_get_response`,
   `send_response`, `chunk_bytes`, `listen_for_disconnect`; its `__call__` runs `handle()`.
2. `django.core.handlers.asgi.get_script_prefix(scope)`: `FORCE_SCRIPT_NAME`, else the scope's
   `root_path`.
3. `BaseHandler().load_middleware(is_async=False)` and its `get_response`: the sync middleware
   chain a stream view's request phase runs in one thread.
4. `HttpResponseBase._handler_class`: the sender of `request_finished` when a response closes
   (Django's handler sets it; echo's sync chain does too).
5. What `ASGIHandler.send_response` reads of a response to start it: `status_code`, `items()`,
   `cookies`, `streaming`, `content` (`ResponseHead` has only those).
6. `HttpResponseBase._resource_closers` (the request's closers, run by `close()`) and
   `StreamingHttpResponse._iterator` (the async iterator given, which `__aiter__` wraps).
7. `BaseDatabaseWrapper.get_connection_params()` (the driver's connect arguments),
   `in_atomic_block`, `wrap_database_errors`, `CursorWrapper.cursor` (the driver's own cursor),
   and `DatabaseOperations.adapt_datetimefield_value`, `adapt_integerfield_value`, `quote_name`.
8. `MigrationLoader(connection, ignore_no_migrations=True)`, its `graph` (`leaf_nodes`,
   `forwards_plan`) and `applied_migrations`: which migrations a database lacks; and
   `BaseDatabaseWrapper.connection` (None until the wrapper connects).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from django.core.handlers import asgi as django_asgi
from django.core.handlers import base
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpResponseBase, StreamingHttpResponse

__all__ = [
    "DjangoASGIHandler",
    "ResponseHead",
    "connection_params",
    "database_errors",
    "datetime_adapter",
    "driver_cursor",
    "in_transaction",
    "integer_adapter",
    "is_connected",
    "listen_for_disconnect",
    "mark_handled_by",
    "name_quoter",
    "resource_closers",
    "script_prefix",
    "streaming_iterator",
    "sync_handler",
    "unapplied_migrations",
]

DjangoASGIHandler = django_asgi.ASGIHandler


def script_prefix(scope: dict[str, Any]) -> str:
    """The script prefix Django's handler sets for a request with this scope."""
    prefix: str = django_asgi.get_script_prefix(scope)
    return prefix


def sync_handler() -> base.BaseHandler:
    """A handler whose `get_response` runs the whole middleware chain synchronously."""
    handler = base.BaseHandler()
    handler.load_middleware(is_async=False)
    return handler


def mark_handled_by(response: HttpResponseBase, handler_class: type) -> None:
    """Make `response.close()` send `request_finished` from `handler_class`, as Django's does."""
    response._handler_class = handler_class  # type: ignore[attr-defined]


class ResponseHead:
    """What Django's `send_response` reads of a response to start it; an empty body after."""

    streaming = False
    content = b""

    def __init__(self, response: HttpResponseBase) -> None:
        self.status_code = response.status_code
        self.cookies = response.cookies
        self.items = response.items


async def listen_for_disconnect(handler: django_asgi.ASGIHandler, receive: Any) -> None:
    """Return when the client goes away (Django raises `RequestAborted` instead, on its terms)."""
    await handler.listen_for_disconnect(receive)


def resource_closers(response: HttpResponseBase) -> list[Callable[[], object]]:
    """The callables `response.close()` runs (the request's among them); the list itself."""
    closers: list[Callable[[], object]] = response._resource_closers  # type: ignore[attr-defined]
    return closers


def streaming_iterator(response: StreamingHttpResponse) -> Any:
    """The iterator a streaming response was given (set by its `streaming_content` setter)."""
    return response._iterator  # type: ignore[attr-defined]


def connection_params(alias: str) -> dict[str, Any]:
    """The arguments Django's backend passes its driver to connect to database `alias`."""
    return dict(connections[alias].get_connection_params())


def in_transaction(alias: str) -> bool:
    """Whether the current thread is inside `atomic()` on database `alias`."""
    return bool(connections[alias].in_atomic_block)


def database_errors(connection: Any) -> AbstractContextManager[None]:
    """A block in which the driver's errors are raised as Django's, as through its cursors."""
    wrapper: AbstractContextManager[None] = connection.wrap_database_errors
    return wrapper


def driver_cursor(cursor: Any) -> Any:
    """The driver's own cursor inside Django's `CursorWrapper` (for what Django has no call for)."""
    return cursor.cursor


def datetime_adapter(connection: Any) -> Callable[[Any], Any]:
    """The backend's own conversion of an aware datetime, the call `DateTimeField` ends with."""
    adapt: Callable[[Any], Any] = connection.ops.adapt_datetimefield_value
    return adapt


def integer_adapter(connection: Any) -> Callable[..., Any]:
    """The backend's own conversion of an integer (`internal_type=` the field's)."""
    adapt: Callable[..., Any] = connection.ops.adapt_integerfield_value
    return adapt


def name_quoter(connection: Any) -> Callable[[str], str]:
    """The backend's quoting of a table or column name."""
    quote: Callable[[str], str] = connection.ops.quote_name
    return quote


def unapplied_migrations(app_label: str, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations of `app_label` not applied to database `using`, as `app.name`, in order."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connections[using], ignore_no_migrations=True)
    graph = loader.graph
    missing: list[str] = []
    for leaf in graph.leaf_nodes(app_label):
        for key in graph.forwards_plan(leaf):
            label = f"{key[0]}.{key[1]}"
            if key[0] == app_label and key not in loader.applied_migrations and label not in missing:
                missing.append(label)
    return missing


def is_connected(using: str) -> bool:
    """Whether this thread's connection to `using` is open (asking opens none)."""
    return connections[using].connection is not None
