"""The upstream details echo's adapters rely on, one test each (docs/upstream.md), and the guard
that keeps every other module off upstream internals.

Django (`echo.sse.glue.django_internals`), django-eventstream (`echo.broadcast.eventstream`) and
asgiref (`echo.sse.runtime.threads`); Daphne's and Twisted's are in `tests/server/test_upstream.py`.
When an upgrade renames or drops one of these details, its test fails here.
"""

from __future__ import annotations

import ast
import asyncio
import datetime
import inspect
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.handlers import asgi as django_asgi
from django.core.handlers.base import BaseHandler
from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, IntegerField
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.test import override_settings
from django_eventstream import eventrequest, eventstream, utils
from django_eventstream import views as eventstream_views
from django_eventstream.channelmanager import DefaultChannelManager
from django_eventstream.event import Event
from django_eventstream.eventresponse import EventResponse
from django_eventstream.storage import DjangoModelStorage, EventDoesNotExist

from echo.broadcast import eventstream as adapter
from echo.sse.glue import django_internals
from echo.sse.runtime.threads import Worker

ROOT = Path(__file__).resolve().parent.parent

# -- Django ----------------------------------------------------------------------------------------


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_djangos_asgi_handler_is_the_base_and_has_the_steps_echo_calls() -> None:
    handler = django_internals.DjangoASGIHandler
    assert handler is django_asgi.ASGIHandler
    assert _parameters(handler.read_body) == ["self", "receive"]
    assert _parameters(handler.create_request) == ["self", "scope", "body_file"]
    assert _parameters(handler.run_get_response) == ["self", "request"]
    assert _parameters(handler.send_response) == ["self", "response", "send"]
    assert _parameters(handler.chunk_bytes) == ["data"]
    assert _parameters(handler.listen_for_disconnect) == ["self", "receive"]
    assert "await self.handle(" in inspect.getsource(handler.__call__)


def test_djangos_script_prefix_is_force_script_name_else_the_root_path() -> None:
    assert django_internals.script_prefix({"root_path": "/app"}) == "/app"
    assert django_internals.script_prefix({}) == ""
    with override_settings(FORCE_SCRIPT_NAME="/forced"):
        assert django_internals.script_prefix({"root_path": "/app"}) == "/forced"


def test_a_base_handler_loads_a_sync_middleware_chain() -> None:
    assert "is_async" in _parameters(BaseHandler.load_middleware)
    handler = django_internals.sync_handler()
    assert handler._middleware_chain is not None
    assert not inspect.iscoroutinefunction(handler._middleware_chain)


@pytest.mark.django_db
def test_a_response_closes_with_request_finished_from_its_handler_class() -> None:
    assert "sender=self._handler_class" in inspect.getsource(HttpResponseBase.close)
    assert "response._handler_class = self.__class__" in inspect.getsource(django_asgi.ASGIHandler)
    senders: list[object] = []

    def receiver(sender: object, **kwargs: object) -> None:
        senders.append(sender)

    signals.request_finished.connect(receiver)
    try:
        response = HttpResponse()
        django_internals.mark_handled_by(response, _Marker)
        response.close()
    finally:
        signals.request_finished.disconnect(receiver)
    assert _Marker in senders


class _Marker:
    pass


def test_send_response_reads_only_what_a_response_head_has() -> None:
    source = inspect.getsource(django_asgi.ASGIHandler.send_response)
    read = set(re.findall(r"(?<![.\w])response\.(\w+)", source))
    assert read <= {"items", "cookies", "status_code", "streaming", "content"}, read
    head = django_internals.ResponseHead(_cookied_response())
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(django_asgi.ASGIHandler().send_response(head, send))
    start, *body = messages
    assert start["status"] == 202
    assert (b"X-Echo", b"yes") in start["headers"]
    assert any(name == b"Set-Cookie" and b"flavour=plain" in value for name, value in start["headers"])
    assert [part.get("body", b"") for part in body] == [b""]


def _cookied_response() -> HttpResponse:
    response = HttpResponse(b"never sent", status=202, headers={"X-Echo": "yes"})
    response.set_cookie("flavour", "plain")
    return response


@pytest.mark.django_db
def test_responses_keep_their_resource_closers_in_a_list_close_runs() -> None:
    response = HttpResponse()
    closers = django_internals.resource_closers(response)
    ran: list[bool] = []
    closers.append(lambda: ran.append(True))
    response.close()
    assert ran == [True]


async def _parts() -> Any:
    yield b"part"


def test_a_streaming_response_keeps_the_async_iterator_it_was_given() -> None:
    parts = _parts()
    response = StreamingHttpResponse(parts)
    assert django_internals.streaming_iterator(response) is parts
    asyncio.run(parts.aclose())


@pytest.mark.django_db
def test_the_backend_gives_its_drivers_connect_arguments() -> None:
    params = django_internals.connection_params("default")
    assert isinstance(params, dict)
    assert params
    if connection.vendor == "sqlite":
        assert "database" in params


@pytest.mark.django_db(transaction=True)
def test_a_connection_says_when_it_is_in_an_atomic_block() -> None:
    assert not django_internals.in_transaction("default")
    with transaction.atomic():
        assert django_internals.in_transaction("default")


@pytest.mark.django_db
def test_database_errors_raises_the_drivers_errors_as_djangos() -> None:
    with pytest.raises(IntegrityError), django_internals.database_errors(connection):
        raise connection.Database.IntegrityError("refused")


@pytest.mark.django_db
def test_djangos_cursor_wrapper_holds_the_drivers_cursor() -> None:
    with connection.cursor() as cursor:
        raw = django_internals.driver_cursor(cursor)
        assert raw is not cursor
        raw.execute("SELECT 1")
        assert raw.fetchone()[0] == 1


def test_the_backends_adapters_give_what_field_preparation_gives() -> None:
    moment = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC)
    assert django_internals.datetime_adapter(connection)(moment) == DateTimeField().get_db_prep_save(
        moment, connection
    )
    adapt = django_internals.integer_adapter(connection)
    assert adapt(7, internal_type="IntegerField") == IntegerField().get_db_prep_save(7, connection)
    assert django_internals.name_quoter(connection)("echo") in ('"echo"', "`echo`")


# -- django-eventstream ----------------------------------------------------------------------------


def test_get_class_makes_one_instance_per_thread_and_keeps_it() -> None:
    path = "django_eventstream.channelmanager.DefaultChannelManager"
    first = adapter.load_class(path)
    assert isinstance(first, DefaultChannelManager)
    assert adapter.load_class(path) is first
    assert "tlocal.loaded" in inspect.getsource(utils.get_class)


def test_the_storage_interface_has_the_calls_broadcast_makes() -> None:
    assert _parameters(DjangoModelStorage.append_event) == ["self", "channel", "event_type", "data"]
    assert _parameters(DjangoModelStorage.get_events) == ["self", "channel", "last_id", "limit"]
    assert _parameters(DjangoModelStorage.get_current_id) == ["self", "channel"]
    assert _parameters(EventDoesNotExist) == ["message", "current_id"]
    assert [field for field in Event.__dataclass_fields__] == ["channel", "type", "data", "id"]


@pytest.mark.django_db
def test_model_storage_stores_reads_and_refuses_a_trimmed_position() -> None:
    storage = DjangoModelStorage()
    stored = storage.append_event("pinned", "note", {"n": 1})
    assert stored.id == 1
    assert storage.get_current_id("pinned") == 1
    (read,) = storage.get_events("pinned", 0)
    assert (read.id, read.type, read.data) == (1, "note", {"n": 1})
    with pytest.raises(EventDoesNotExist):
        storage.get_events("pinned", 5)


@pytest.mark.django_db
def test_model_storage_calls_trim_event_log_after_every_append() -> None:
    assert "self.trim_event_log()" in inspect.getsource(DjangoModelStorage.append_event)
    expired: list[bool] = []

    class Counting(adapter.ModelStorage):
        def expire(self) -> None:
            expired.append(True)

    Counting().append_event("pinned", "note", {})
    Counting().append_event("pinned", "note", {})
    assert expired == [True, True]


def test_the_event_models_have_the_fields_broadcast_filters_on() -> None:
    event_fields = {field.name for field in adapter.event_model()._meta.get_fields()}
    assert {"channel", "type", "data", "eid", "created"} <= event_fields
    assert adapter.event_model()._meta.unique_together == (("channel", "eid"),)
    counter_fields = {field.name for field in adapter.counter_model()._meta.get_fields()}
    assert {"name", "value"} <= counter_fields


def test_the_listener_manager_queues_an_event_for_a_channels_listeners() -> None:
    assert _parameters(eventstream_views.ListenerManager.add_to_queues) == ["self", "channel", "event"]
    manager = eventstream_views.get_listener_manager()
    assert manager is eventstream_views.get_listener_manager()
    listener = eventstream_views.Listener()
    listener.channels = {"pinned-listeners"}

    async def listen() -> Any:
        listener.assign_loop()
        manager.add_listener(listener)
        try:
            adapter.notify_listeners("pinned-listeners", "note", '{"n": 1}', 4)
            await asyncio.wait_for(listener.aevent.wait(), 5)
        finally:
            manager.remove_listener(listener)
        return listener.channel_items["pinned-listeners"]

    (queued,) = asyncio.run(listen())
    assert queued == Event("pinned-listeners", "note", '{"n": 1}', id=4)


def test_grip_publishing_takes_the_event_and_its_predecessors_id() -> None:
    assert _parameters(utils.publish_event)[:5] == ["channel", "event_type", "data", "pub_id", "pub_prev_id"]


def test_django_eventstreams_grip_answer_is_built_from_an_event_request() -> None:
    assert _parameters(eventrequest.EventRequest) == ["http_request", "channel_limit", "view_kwargs"]
    assert 'set(view_kwargs["channels"])' in inspect.getsource(DefaultChannelManager.get_channels_for_request)
    assert _parameters(eventstream.get_events)[0] == "request"
    assert _parameters(EventResponse.to_grip_response) == ["self", "http_request"]


def test_the_channel_manager_has_the_hooks_broadcast_overrides() -> None:
    assert _parameters(DefaultChannelManager.can_read_channel) == ["self", "user", "channel"]
    assert _parameters(DefaultChannelManager.is_channel_reliable) == ["self", "channel"]


# -- asgiref ---------------------------------------------------------------------------------------


def test_a_thread_sensitive_context_uses_its_executor_and_leaves_it_running() -> None:
    assert "executor" in _parameters(ThreadSensitiveContext)
    assert "run_in_executor" in inspect.getsource(SyncToAsync.__call__)
    worker = Worker("echo-upstream-test")

    async def run() -> tuple[int | None, int | None]:
        async with ThreadSensitiveContext(executor=worker):  # type: ignore[no-untyped-call]
            inside = await sync_to_async(threading.get_ident)()
        alone = await sync_to_async(threading.get_ident, thread_sensitive=False, executor=worker)()  # type: ignore[arg-type]
        return inside, alone

    try:
        inside, alone = asyncio.run(run())
        assert inside == alone == worker.thread.ident
        assert worker.thread.is_alive()
    finally:
        worker.shutdown()


# -- the guard: upstream internals only in the adapters --------------------------------------------

UPSTREAM = frozenset({"daphne", "twisted", "django", "asgiref", "channels", "django_eventstream"})

# Each adapter and the upstreams whose internals it may read.
ADAPTERS: dict[str, frozenset[str]] = {
    "echo/server/": frozenset({"daphne", "twisted"}),
    "echo/sse/glue/django_internals.py": frozenset({"django"}),
    "echo/broadcast/eventstream.py": frozenset({"django_eventstream"}),
    "echo/sse/runtime/threads.py": frozenset({"asgiref"}),
}

# Modules that still read an upstream internal themselves; each listed in docs/upstream.md.
TO_MOVE: dict[str, str] = {}

# Underscore names Django documents (the model `_meta` API, default managers).
DOCUMENTED = frozenset({"_meta", "_default_manager"})

# Upstream modules only an adapter imports.
INTERNAL_MODULES = {
    "django_eventstream": "django_eventstream",
    "daphne": "daphne",
    "twisted": "twisted",
    "django.core.handlers": "django",
    "django.db.backends": "django",
    "django.db.migrations": "django",
}

# asgiref's documented calls; anything else of it is read in its adapter.
ASGIREF_PUBLIC = frozenset({"sync_to_async", "async_to_sync", "iscoroutinefunction", "markcoroutinefunction"})

# Undocumented Django attributes that carry no underscore.
DJANGO_INTERNAL_ATTRIBUTES = frozenset(
    {
        "get_connection_params",
        "in_atomic_block",
        "wrap_database_errors",
        "adapt_datetimefield_value",
        "adapt_integerfield_value",
        "quote_name",
        "load_middleware",
        "listen_for_disconnect",
        "get_script_prefix",
    }
)


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / "echo").rglob("*.py")):
        if "migrations" in path.parent.parts:
            continue
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), str(path))


def _allowed(module: str, upstream: str | None) -> bool:
    """May `module` read internals of `upstream` (None: of an upstream not known by name)?"""
    if module in TO_MOVE:
        return True
    return any(
        module.startswith(prefix) and (upstream is None or upstream in allowed)
        for prefix, allowed in ADAPTERS.items()
    )


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in DOCUMENTED


def _echos_own_names() -> set[str]:
    """Every name echo defines: an underscore name outside this set belongs to someone else."""
    names: set[str] = set()
    for _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                names.add(node.attr)
            elif isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
            ):
                names.update(
                    item.value
                    for item in ast.walk(node.value)
                    if isinstance(item, ast.Constant) and isinstance(item.value, str)
                )
    return names


def _upstream_names(tree: ast.Module) -> dict[str, str]:
    """Names a module binds to something imported from an upstream, and which upstream."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in UPSTREAM:
                    bound[alias.asname or top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top in UPSTREAM:
                for alias in node.names:
                    bound[alias.asname or alias.name] = top
    return bound


def _root(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def upstream_internals_outside_adapters() -> list[str]:
    own = _echos_own_names()
    found: list[str] = []
    for module, tree in _modules():
        bound = _upstream_names(tree)
        for node in ast.walk(tree):
            where = f"{module}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found += [f"{where} {name}" for name in _imported_internals(module, node)]
            elif isinstance(node, ast.Attribute) and _internal_attribute(module, node, bound, own):
                found.append(f"{where} {ast.unparse(node)}")
    return found


def _internal_attribute(module: str, node: ast.Attribute, bound: dict[str, str], own: set[str]) -> bool:
    if node.attr in DJANGO_INTERNAL_ATTRIBUTES:
        return not _allowed(module, "django")
    if not _private(node.attr):
        return False
    upstream = bound.get(_root(node) or "")
    if upstream is not None:
        return not _allowed(module, upstream)
    # An underscore name echo never defines is read from (or written to) someone else's object.
    return node.attr not in own and not _allowed(module, None)


def _imported_internals(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        targets = [(alias.name, None) for alias in node.names]
    elif node.module and node.level == 0:
        targets = [(node.module, alias.name) for alias in node.names]
    else:
        return []
    found: list[str] = []
    for dotted, name in targets:
        top = dotted.split(".")[0]
        if top not in UPSTREAM or _allowed(module, top):
            continue
        parts = dotted.split(".") + ([name] if name else [])
        internal_module = any(
            dotted == prefix or dotted.startswith(prefix + ".") for prefix in INTERNAL_MODULES
        )
        asgiref_internal = top == "asgiref" and name is not None and name not in ASGIREF_PUBLIC
        if any(_private(part) for part in parts) or internal_module or asgiref_internal:
            found.append(f"{dotted}.{name}" if name else dotted)
    return found


def test_upstream_internals_are_read_only_in_their_adapters() -> None:
    assert upstream_internals_outside_adapters() == []


def test_the_guard_finds_an_upstream_underscore_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # The guard itself, on code that reads what it must refuse.
    tree = ast.parse(
        "from django.core.handlers import asgi as django_asgi\n"
        "from django.http import HttpResponse\n"
        "from asgiref.sync import ThreadSensitiveContext\n"
        "HttpResponse()._resource_closers\n"
        "django_asgi.ASGIHandler._private_step\n"
        "connection.get_connection_params()\n"
        "request._never_defined_by_echo\n"
    )
    module = "echo/sse/somewhere.py"
    monkeypatch.setattr(sys.modules[__name__], "_modules", lambda: iter([(module, tree)]))
    found = {line.split(" ", 1)[1] for line in upstream_internals_outside_adapters()}
    assert found == {
        "django.core.handlers.asgi",
        "asgiref.sync.ThreadSensitiveContext",
        "HttpResponse()._resource_closers",
        "django_asgi.ASGIHandler._private_step",
        "connection.get_connection_params",
        "request._never_defined_by_echo",
    }


def test_every_module_still_reading_an_upstream_internal_is_listed_in_the_docs() -> None:
    page = (ROOT / "docs" / "upstream.md").read_text()
    for module in [*TO_MOVE, *ADAPTERS]:
        assert f"`{module}" in page, module


@pytest.mark.django_db
def test_the_migration_loader_says_what_a_database_lacks() -> None:
    from django.db.migrations.recorder import MigrationRecorder

    from echo.sse.glue.django_internals import is_connected, unapplied_migrations

    assert unapplied_migrations("echo_sessions") == []
    assert is_connected("default")  # the test's transaction holds it open
    # Forget the newest applied migration of an app: the loader now says the database lacks it.
    recorded = MigrationRecorder.Migration.objects.filter(app="echo_sessions").order_by("-id")
    newest = recorded.first()
    assert newest is not None
    newest.delete()
    assert unapplied_migrations("echo_sessions") == [f"echo_sessions.{newest.name}"]
