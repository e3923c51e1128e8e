"""A brand-new Django site with echo added by the README's "Add to an existing site" alone.

The steps come from README.md itself, in its order, so the recipe and this test cannot drift
apart: a code block under `<!-- site: PATH ACTION -->` is a file (`create`d, `append`ed to or
`replace`d: Python, HTML), and a shell block under `<!-- site: run -->` is run line by line in
the site's folder (`python` being the site's own). The site gets a virtual environment of its own
with the wheel built from this repository (its declared dependencies, nothing of the project's
own environment), and `django-admin startproject mysite`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..servers import ROOT

README = ROOT / "README.md"
_STEP = re.compile(r"<!-- site: (?P<what>[^>]+?) -->\n```(?P<language>\w+)\n(?P<code>.*?)```", re.S)
_ACTIONS = ("append", "replace", "create")


@dataclass(frozen=True)
class Snippet:
    path: str
    action: str
    code: str


@dataclass(frozen=True)
class Commands:
    lines: tuple[tuple[str, ...], ...]


def readme_steps() -> list[Snippet | Commands]:
    """Every marked block of the README, in order."""
    steps: list[Snippet | Commands] = []
    for match in _STEP.finditer(README.read_text()):
        what = match["what"].split()
        if what == ["run"]:
            assert match["language"] == "sh", match[0]
            parsed = (tuple(shlex.split(line, comments=True)) for line in match["code"].splitlines())
            steps.append(Commands(tuple(argv for argv in parsed if argv)))
        else:
            path, action = what
            assert action in _ACTIONS, match[0]
            steps.append(Snippet(path, action, match["code"]))
    return steps


def readme_snippets() -> list[Snippet]:
    return [step for step in readme_steps() if isinstance(step, Snippet)]


def site_env(settings: str = "mysite.settings", **extra: str) -> dict[str, str]:
    """Only what a user's shell would have: not this test run's settings or Python path."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, "DJANGO_SETTINGS_MODULE": settings, "PYTHONUNBUFFERED": "1", **extra}


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def build_wheel(folder: Path) -> Path:
    """The wheel of this repository, built from a copy of what it packages (the work tree stays clean)."""
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "echo", source / "echo", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = folder / "wheels"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            ".",
        ],
        cwd=source,
    )
    (wheel,) = wheels.glob("django_echo_sse-*.whl")
    return wheel


def new_venv(folder: Path, wheel: Path) -> Path:
    """A virtual environment with the wheel and what it declares; its python."""
    venv = folder / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=folder)
    python = venv / "bin" / "python"
    # With the [metrics] extra, which the README's metrics settings need.
    run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[metrics]"],
        cwd=folder,
    )
    return python


def start_project(folder: Path, python: Path) -> Path:
    """`django-admin startproject mysite`, then every README step in order; the site's folder."""
    site = folder / "site"
    site.mkdir()
    run([str(python.parent / "django-admin"), "startproject", "mysite", str(site)], cwd=folder)
    # The stock asgi.py, kept for the check that names a site still serving with it (echo.W004).
    shutil.copy(site / "mysite" / "asgi.py", site / "mysite" / "asgi_stock.py")
    for step in readme_steps():
        if isinstance(step, Commands):
            for argv in step.lines:
                assert argv[0] == "python", f"the site runs its own python only: {argv}"
                run([str(python), *argv[1:]], cwd=site, env=site_env())
            continue
        target = site / step.path
        if step.action == "append":
            assert target.exists(), step.path
            target.write_text(target.read_text() + "\n" + step.code)
        elif step.action == "replace":
            assert target.exists(), step.path
            target.write_text(step.code)
        else:
            assert not target.exists(), step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.code)
    return site
