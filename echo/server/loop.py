"""The event loop under Twisted's asyncio reactor: uvloop where it is installed.

Daphne installs Twisted's asyncio reactor on a stdlib loop when `daphne.server` is first imported,
unless an asyncio reactor is installed already, which it then uses (the Daphne detail relied on
here: docs/upstream.md). So `python -m echo.server` chooses the loop before anything imports
Daphne: `--loop uvloop|asyncio|auto` (default `auto`, or `ECHO_LOOP` from the environment: uvloop
when it can be imported, else asyncio), as uvicorn's `--loop` does. `manage.py runserver` keeps the
stdlib loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

__all__ = ["CHOICES", "add_argument", "install"]

CHOICES = ("auto", "asyncio", "uvloop")


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loop",
        choices=CHOICES,
        default=os.environ.get("ECHO_LOOP", "auto"),
        help="The event loop under Twisted: uvloop, asyncio, or auto (uvloop if installed; default)",
    )


def install(argv: list[str]) -> str:
    """Install Twisted's asyncio reactor on the loop `argv`'s `--loop` names; the loop's name.

    Must run before anything imports `twisted.internet.reactor` or `daphne.server`."""
    parser = argparse.ArgumentParser(add_help=False)
    add_argument(parser)
    choice = parser.parse_known_args(argv)[0].loop
    if "twisted.internet.reactor" in sys.modules:
        return "installed already"
    loop = _uvloop(required=choice == "uvloop") if choice != "asyncio" else None
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop or asyncio.new_event_loop())  # type: ignore[no-untyped-call]
    return "uvloop" if loop is not None else "asyncio"


def _uvloop(*, required: bool) -> asyncio.AbstractEventLoop | None:
    try:
        import uvloop
    except ImportError:
        if required:
            hint = "pip install 'uvloop>=0.19' (echo's [uvloop] extra)"
            raise SystemExit(f"--loop uvloop: uvloop is not installed: {hint}") from None
        return None
    return uvloop.new_event_loop()
