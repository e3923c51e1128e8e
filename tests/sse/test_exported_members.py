"""The public surface of `echo.sse` is deliberate: a sorted `__all__` that names what it exports."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import echo.sse


def submodules() -> list[ModuleType]:
    # Every module of the toolkit, in its layers (`wire`, `runtime`, `glue`) too.
    return [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(echo.sse.__path__, prefix=f"{echo.sse.__name__}.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]


def test_all_is_sorted_and_has_no_duplicates() -> None:
    assert echo.sse.__all__ == sorted(set(echo.sse.__all__))


def test_every_name_in_all_exists() -> None:
    missing = [name for name in echo.sse.__all__ if not hasattr(echo.sse, name)]
    assert missing == []


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from echo.sse import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == echo.sse.__all__


def test_every_reexported_public_class_and_function_is_in_all() -> None:
    unlisted = []
    for module in submodules():
        for name, member in vars(module).items():
            if name.startswith("_") or not (inspect.isclass(member) or inspect.isfunction(member)):
                continue
            if member.__module__ != module.__name__:
                continue  # imported into the submodule, not defined there
            if getattr(echo.sse, name, None) is member and name not in echo.sse.__all__:
                unlisted.append(f"{module.__name__}.{name}")
    assert unlisted == []


def _isort_style(name: str) -> tuple[int, str]:
    # The order ruff keeps `__all__` in (RUF022): CONSTANTS, then Classes, then functions.
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_every_submodule_all_names_what_it_defines() -> None:
    for module in submodules():
        names = getattr(module, "__all__", [])
        assert names == sorted(names, key=_isort_style), module.__name__
        assert [name for name in names if not hasattr(module, name)] == [], module.__name__


def test_exported_names_come_from_the_toolkit() -> None:
    for name in echo.sse.__all__:
        member = getattr(echo.sse, name)
        module = getattr(member, "__module__", None)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert module is not None
            assert module.startswith(f"{echo.sse.__name__}."), name
