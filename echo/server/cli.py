"""`python -m echo.server`: Daphne's command line, serving with `echo.server.Server`.

Takes every option `daphne` takes (`-e`, `-b`, `-p`, `--proxy-headers`...), through Daphne's
documented hook `CommandLineInterface.server_class`.
"""

from __future__ import annotations

from daphne.cli import CommandLineInterface as DaphneCommandLineInterface

from .server import Server

__all__ = ["CommandLineInterface", "main"]


class CommandLineInterface(DaphneCommandLineInterface):  # type: ignore[misc]
    server_class = Server


def main() -> None:
    CommandLineInterface.entrypoint()
