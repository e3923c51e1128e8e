"""The process-wide state inventory (`echo.sse.runtime.state`) against the code, and the one reset.

The rule, applied to every module under `echo/` but migrations and `__main__.py`, to the statements
of a module's body (and of `if`, `try` and `with` blocks there; not of functions or classes):

- A **holder** is a name bound (`=`, annotated, `:=`) to a dict, list or set display or
  comprehension; or to a call of a mutable constructor (`MUTABLE_CALLS`, matched on the callee's
  last name: `collections.OrderedDict` and `OrderedDict` alike) or of any class defined in `echo`;
  or a name a function declares `global`, whatever it starts as; or a function (or a method of a
  module-level class) decorated with `functools.cache` or `lru_cache`.
- Not state: a **constant**, that is a dunder (`__all__`), Django's `urlpatterns`, a name
  annotated `Final`, or an UPPER_CASE name (`_PRIVATE_CASE` too), whatever its value (a tuple, a
  frozenset, a compiled regex; a dict is allowed too, provided its module never mutates it, which
  `test_constants_are_never_mutated` checks).
- A **side effect** is a call made as a statement at import (`os.register_at_fork(...)`), named
  by its callee; Pydantic's `model_rebuild()` is not one (it completes its class's declaration).

Class attributes are not scanned: class bodies here declare fields and Django options.
"""

from __future__ import annotations

import ast
import asyncio
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.signals import request_started

from echo.sse.runtime import shutdown as shutdown_module
from echo.sse.runtime import state

from ..servers import Server, daphne, uvicorn

ROOT = Path(__file__).resolve().parents[2]
ECHO = ROOT / "echo"

MUTABLE_CALLS = frozenset(
    {
        # builtins and collections
        "dict",
        "list",
        "set",
        "bytearray",
        "OrderedDict",
        "defaultdict",
        "deque",
        "Counter",
        "ChainMap",
        # contextvars, threading, queue, asyncio
        "ContextVar",
        "local",
        "Lock",
        "RLock",
        "Condition",
        "Event",
        "Semaphore",
        "BoundedSemaphore",
        "Thread",
        "Queue",
        "SimpleQueue",
        "LifoQueue",
        "PriorityQueue",
        # weakref, itertools
        "WeakSet",
        "WeakKeyDictionary",
        "WeakValueDictionary",
        "count",
        # Django's signals (their receivers), echo's metrics (echo.sse.runtime.stats)
        "Signal",
        "counter",
        "gauge",
        "histogram",
    }
)
CACHES = frozenset({"cache", "lru_cache"})
MUTATORS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "add",
        "update",
        "setdefault",
        "pop",
        "popitem",
        "remove",
        "discard",
        "clear",
    }
)
DECLARATIONS = frozenset({"model_rebuild"})
CONSTANT = re.compile(r"_*[A-Z][A-Z0-9_]*")


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(ECHO.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        if "migrations" in relative.parts or relative.name == "__main__":
            continue
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        yield ".".join(parts), ast.parse(path.read_text(), str(path))


def module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for statement in body:
        if isinstance(statement, ast.If | ast.With):
            yield from module_level(statement.body)
            yield from module_level(getattr(statement, "orelse", []))
        elif isinstance(statement, ast.Try):
            for block in (statement.body, statement.orelse, statement.finalbody):
                yield from module_level(block)
            for handler in statement.handlers:
                yield from module_level(handler.body)
        else:
            yield statement


def last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def echo_classes() -> frozenset[str]:
    return frozenset(
        node.name for _, tree in modules() for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
    )


def is_mutable(value: ast.expr, classes: frozenset[str]) -> bool:
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp):
        return True
    if isinstance(value, ast.Call):
        name = last_name(value.func)
        return name in MUTABLE_CALLS or name in classes
    return False


def is_constant(name: str, annotation: ast.expr | None) -> bool:
    final = (
        annotation is not None
        and last_name(annotation.value if isinstance(annotation, ast.Subscript) else annotation) == "Final"
    )
    dunder = name.startswith("__") and name.endswith("__")
    return final or dunder or name == "urlpatterns" or CONSTANT.fullmatch(name) is not None


def bindings(tree: ast.Module) -> Iterator[tuple[str, ast.expr, ast.expr | None]]:
    """(name, value, annotation) for each name bound at module level."""
    for statement in module_level(tree.body):
        if isinstance(statement, ast.Assign):
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    yield target.id, statement.value, None
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            if isinstance(statement.target, ast.Name):
                yield statement.target.id, statement.value, statement.annotation
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.NamedExpr):
            yield statement.value.target.id, statement.value.value, None


def cached_functions(tree: ast.Module) -> Iterator[str]:
    for statement in module_level(tree.body):
        functions: list[tuple[str, ast.stmt]] = (
            [(statement.name, statement)]
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
            else []
        )
        if isinstance(statement, ast.ClassDef):
            functions = [
                (f"{statement.name}.{member.name}", member)
                for member in statement.body
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
        for name, function in functions:
            assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            if any(last_name(decorator) in CACHES for decorator in function.decorator_list):
                yield name


def found_holders() -> set[tuple[str, str]]:
    classes = echo_classes()
    found: set[tuple[str, str]] = set()
    for module, tree in modules():
        for name, value, annotation in bindings(tree):
            if is_mutable(value, classes) and not is_constant(name, annotation):
                found.add((module, name))
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                found.update((module, name) for name in node.names)
        found.update((module, name) for name in cached_functions(tree))
    return found


def found_side_effects() -> set[tuple[str, str]]:
    return {
        (module, ast.unparse(statement.value.func))
        for module, tree in modules()
        for statement in module_level(tree.body)
        if isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and last_name(statement.value) not in DECLARATIONS
    }


def test_every_module_level_holder_is_listed() -> None:
    listed = {(holder.module, holder.name) for holder in state.HOLDERS}
    unlisted = found_holders() - listed
    assert not unlisted, f"module-level state not in echo.sse.runtime.state.HOLDERS: {sorted(unlisted)}"


def test_every_listed_holder_is_still_there() -> None:
    listed = {(holder.module, holder.name) for holder in state.HOLDERS}
    assert not listed - found_holders()
    assert len(listed) == len(state.HOLDERS), "a holder listed twice"


def test_every_import_time_side_effect_is_listed() -> None:
    listed = {(effect.module, effect.call) for effect in state.SIDE_EFFECTS}
    assert found_side_effects() == listed


def test_constants_are_never_mutated() -> None:
    classes = echo_classes()
    for module, tree in modules():
        mutable_constants = {
            name
            for name, value, annotation in bindings(tree)
            if is_mutable(value, classes) and is_constant(name, annotation) and name != "urlpatterns"
        }
        for node in ast.walk(tree):
            target = None
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
                target = node.value
            elif isinstance(node, ast.AugAssign):
                target = node.target
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value if node.func.attr in MUTATORS else None
            if isinstance(target, ast.Name):
                assert target.id not in mutable_constants, f"{module}.{target.id} is mutated"


def test_the_rule_finds_each_kind_of_holder() -> None:
    tree = ast.parse(
        "import functools, threading\n"
        "from typing import Final\n"
        "__all__ = ['x']\n"
        "TABLE = {'a': 1}\n"
        "LIMIT: Final = [1]\n"
        "cache = {}\n"
        "if True:\n    seen = set()\n"
        "lock = threading.Lock()\n"
        "obj = Thing()\n"
        "flag = False\n"
        "def f():\n    global flag\n    flag = True\n"
        "@functools.lru_cache(maxsize=2)\ndef g(): ...\n"
        "class C:\n    @functools.cache\n    def h(self): ...\n"
    )
    classes = frozenset({"Thing"})
    bound = {
        name
        for name, value, annotation in bindings(tree)
        if is_mutable(value, classes) and not is_constant(name, annotation)
    }
    assert bound == {"cache", "seen", "lock", "obj"}
    assert set(cached_functions(tree)) == {"g", "C.h"}


def table() -> str:
    rows = [f"| `{h.module}` `{h.name}` | {h.holds} | {h.reset} |" for h in state.HOLDERS]
    return "\n".join(["| holder | what it holds | reset |", "|---|---|---|", *rows])


def test_architecture_table_is_the_inventory() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    section = text.split("## Process-wide state\n", 1)[1].split("\n## ", 1)[0]
    assert table() in section, (
        "ARCHITECTURE.md's table, rendered from echo.sse.runtime.state.HOLDERS:\n" + table()
    )


def test_reset_calls_what_the_apps_registered() -> None:
    registered = set(state._resets)
    assert registered == {
        "echo.sse.runtime.registry.registry",
        "echo.sse.runtime.liveness.pinger",
        "echo.sse.runtime.shutdown.shutdown",
        "echo.broadcast.hub.hub",
        "echo.broadcast.relay.relay",
    }
    resets = {f"{h.module}.{h.name}" for h in state.HOLDERS if h.reset.startswith(state.RESET)}
    assert resets == registered
    called: list[str] = []
    state.register_reset("test", lambda: called.append("test"))
    try:
        state.reset()
    finally:
        del state._resets["test"]
    assert called == ["test"]


# -- signal handlers: installed when the process starts serving, on the serving loop's thread ------


@pytest.fixture
def installs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[threading.Thread]]:
    """The threads `shutdown.install()` was called on (the process's handlers left as they are)."""
    threads: list[threading.Thread] = []
    monkeypatch.setattr(
        shutdown_module.shutdown, "install", lambda: threads.append(threading.current_thread())
    )
    yield threads
    request_started.disconnect(dispatch_uid="echo.sse.runtime.shutdown")


def test_ready_on_the_serving_loop_installs_at_once(installs: list[threading.Thread]) -> None:
    async def ready() -> None:
        shutdown_module.on_application_ready()

    asyncio.run(ready())
    assert installs == [threading.main_thread()]


def test_ready_from_a_worker_thread_installs_on_the_loop(installs: list[threading.Thread]) -> None:
    # As an ASGI lifespan start-up (uvicorn) or the first request sends it.
    async def ready() -> None:
        await sync_to_async(shutdown_module.on_application_ready, thread_sensitive=False)()

    asyncio.run(ready())
    assert installs == [threading.main_thread()]


def test_ready_before_the_loop_runs_installs_at_the_first_request(installs: list[threading.Thread]) -> None:
    # As echo.server sends it: before the reactor runs and installs Twisted's handlers.
    shutdown_module.on_application_ready()
    assert installs == []
    first_request = shutdown_module._install_at_first_request
    # Waiting on request_started (disconnected to tell; Django's own receivers are left out of
    # this test, as they would touch the database).
    assert request_started.disconnect(dispatch_uid="echo.sse.runtime.shutdown")
    request_started.connect(first_request, dispatch_uid="echo.sse.runtime.shutdown")
    first_request()  # a request served without a loop (Django's test client): still waiting
    assert installs == []

    async def served() -> None:
        await sync_to_async(first_request, thread_sensitive=False)()

    asyncio.run(served())
    assert installs == [threading.main_thread()]
    assert not request_started.disconnect(dispatch_uid="echo.sse.runtime.shutdown"), "once, then gone"


@pytest.mark.live
@pytest.mark.parametrize("start", [daphne, uvicorn], ids=["echo.server", "uvicorn"])
def test_a_server_that_served_no_stream_drains_on_sigterm(
    start: Callable[[Path], AbstractContextManager[Server]], tmp_path: Path
) -> None:
    # The handlers come with the process's start (echo.server: its first request, the readiness
    # probe here; uvicorn: the lifespan start-up), not with a first stream.
    with start(tmp_path) as server:
        server.wait_ready()
        server.stop(signal.SIGTERM)
        assert "Shutting down: ending 0 open stream(s)" in server.log()
