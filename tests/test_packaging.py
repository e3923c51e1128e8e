"""The wheel's dependency ranges: Daphne and Twisted only at the versions the upstream tests cover."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(line).name.lower(): Requirement(line) for line in project["dependencies"]}


def pinned(file: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / file).read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            pins[name.strip().lower()] = version.strip()
    return pins


@pytest.mark.parametrize("file", ["requirements.txt", "requirements-django6.txt"])
def test_every_pinned_runtime_version_is_inside_the_wheels_range(file: str) -> None:
    ranges = declared()
    pins = pinned(file)
    for name, requirement in ranges.items():
        assert name in pins, f"{name} is not pinned in {file}"
        assert requirement.specifier.contains(pins[name]), (
            file,
            name,
            pins[name],
            str(requirement.specifier),
        )


@pytest.mark.parametrize("name", ["daphne", "twisted"])
def test_daphne_and_twisted_ranges_start_at_the_tested_pin_and_stop_before_the_next_minor(name: str) -> None:
    requirement = declared()[name]
    pin = pinned("requirements.txt")[name]
    assert f">={pin}" in str(requirement.specifier)
    major, minor = pin.split(".")[:2]
    assert not requirement.specifier.contains(f"{major}.{int(minor) + 1}.0")
    assert not requirement.specifier.contains(f"{major}.{minor}.0") or pin.endswith(".0")


def test_the_django6_requirements_repeat_every_runtime_pin_but_djangos() -> None:
    # requirements-django6.txt cannot include requirements.txt (it pins Django 5.2): a pin added to
    # one and not the other fails make test-django6 only, in CI's last stage.
    runtime = {name: version for name, version in pinned("requirements.txt").items() if name != "django"}
    django6 = pinned("requirements-django6.txt")
    assert {name: django6.get(name) for name in runtime} == runtime


def test_every_install_hint_names_packages_of_the_extra_it_names() -> None:
    """`pip install '...'` in a message or docstring names what PyPI has: the extra's own
    requirements, never this package by a name nobody can install (issue 28)."""
    import re

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    hints = [
        (path, line)
        for path in sorted((ROOT / "echo").rglob("*.py"))
        for line in path.read_text().splitlines()
        if "pip install" in line
    ]
    assert len(hints) >= 6
    for path, line in hints:
        assert "django-echo-sse" not in line, (path, line)
        named = re.findall(r"'([^' ]+)'", line.partition("pip install")[2])
        extra = re.search(r"\[(\w+)\] extra", line)
        assert named, (path, line)
        assert extra, (path, line)
        assert set(named) <= set(extras[extra.group(1)]), (path, line, extras[extra.group(1)])
