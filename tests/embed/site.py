"""A brand-new Django site with echo added by the README's "Add to an existing site" alone.

The snippets come from README.md itself (each code block under a `<!-- site: PATH ACTION -->`
comment), so the recipe and this test cannot drift apart. The site gets a virtual environment of
its own with the wheel built from this repository (its declared dependencies, nothing of the
project's own environment), and `django-admin startproject mysite`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..servers import ROOT

README = ROOT / "README.md"
_BLOCK = re.compile(
    r"<!-- site: (?P<path>\S+) (?P<action>append|replace|create) -->\n```python\n(?P<code>.*?)```", re.S
)


@dataclass(frozen=True)
class Snippet:
    path: str
    action: str
    code: str


def readme_snippets() -> list[Snippet]:
    text = README.read_text()
    return [Snippet(m["path"], m["action"], m["code"]) for m in _BLOCK.finditer(text)]


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
    """`django-admin startproject mysite`, then every README snippet applied; the site's folder."""
    site = folder / "site"
    site.mkdir()
    run([str(python.parent / "django-admin"), "startproject", "mysite", str(site)], cwd=folder)
    # The stock asgi.py, kept for the check that names a site still serving with it (echo.W004).
    shutil.copy(site / "mysite" / "asgi.py", site / "mysite" / "asgi_stock.py")
    for snippet in readme_snippets():
        target = site / snippet.path
        if snippet.action == "append":
            assert target.exists(), snippet.path
            target.write_text(target.read_text() + "\n" + snippet.code)
        elif snippet.action == "replace":
            assert target.exists(), snippet.path
            target.write_text(snippet.code)
        else:
            assert not target.exists(), snippet.path
            target.write_text(snippet.code)
    return site
