"""The demo project's settings refuse a public secret key in production (issue 28)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ECHO_")) and k != "PYTHONDEVMODE"
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**keep, "DJANGO_SETTINGS_MODULE": "sse_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_debug_off_without_a_secret_key_refuses_to_start() -> None:
    done = manage("check", DJANGO_DEBUG="0")
    assert done.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set and DJANGO_DEBUG=0" in done.stderr


def test_debug_off_with_a_secret_key_starts() -> None:
    done = manage("check", DJANGO_DEBUG="0", DJANGO_SECRET_KEY="a-key-of-this-site-" + "k" * 40)
    assert done.returncode == 0, done.stderr


def test_check_deploy_names_the_development_key() -> None:
    done = manage("check", "--deploy")
    assert "security.W009" in done.stderr + done.stdout
