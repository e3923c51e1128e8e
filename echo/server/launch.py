"""`echo-server` and `python -m echo.server`: the loop first (`echo.server.loop`), then Daphne's CLI."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    from .loop import install

    install(sys.argv[1:])
    from .cli import main as cli_main

    cli_main()
