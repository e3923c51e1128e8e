"""`python -m echo.server`: Daphne's command line, serving with `echo.server.Server`.

Takes every option `daphne` takes (`-e`, `-b`, `-p`, `--proxy-headers`...), through Daphne's
documented hook `CommandLineInterface.server_class`, and one of its own: `--workers N` serves the
same endpoints from N processes (`echo.server.workers`). Each worker is this command line again
with `--worker-endpoint` naming the socket it inherits in place of the ones it would bind.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from daphne.cli import DEFAULT_HOST, DEFAULT_PORT
from daphne.cli import CommandLineInterface as DaphneCommandLineInterface
from daphne.endpoints import build_endpoint_description_strings

from .server import Server
from .workers import supervise

__all__ = ["CommandLineInterface", "main"]


def _workers(value: str) -> int:
    count = int(value)
    if not 1 <= count <= 256:
        raise argparse.ArgumentTypeError("between 1 and 256")
    return count


class CommandLineInterface(DaphneCommandLineInterface):  # type: ignore[misc]
    server_class = Server

    def __init__(self) -> None:
        super().__init__()
        self.parser.add_argument(
            "--workers",
            type=_workers,
            default=1,
            help="Serve from this many processes sharing the listening sockets (default 1: this one)",
        )
        # Set by the parent for each worker: the inherited sockets, in place of -b/-p/-u/--fd/-e.
        self.parser.add_argument(
            "--worker-endpoint", dest="worker_endpoints", action="append", default=[], help=argparse.SUPPRESS
        )

    def run(self, argv: list[str]) -> None:
        args = self.parser.parse_args(argv)
        if args.worker_endpoints:
            inherited = list(args.worker_endpoints)
            # Daphne makes its server with `server_class(**options)`: the same, on these sockets.
            self.server_class = lambda **kwargs: Server(**{**kwargs, "endpoints": inherited})  # type: ignore[assignment]
        elif args.workers > 1:
            levels = {0: logging.WARNING, 1: logging.INFO}
            logging.basicConfig(level=levels.get(args.verbosity, logging.DEBUG), format=args.log_fmt)
            command = [sys.executable, "-m", "echo.server", *argv]
            sys.exit(supervise(command, endpoints(args), args.workers))
        super().run(argv)


def endpoints(args: Any) -> list[str]:
    """The endpoints Daphne would listen on for these options (its defaults filled in as it does)."""
    host, port = args.host, args.port
    chosen = [host, port is not None, args.unix_socket, args.file_descriptor is not None, args.socket_strings]
    if not any(chosen):
        host, port = DEFAULT_HOST, DEFAULT_PORT
    elif host and port is None:
        port = DEFAULT_PORT
    elif port is not None and not host:
        host = DEFAULT_HOST
    built = build_endpoint_description_strings(
        host=host, port=port, unix_socket=args.unix_socket, file_descriptor=args.file_descriptor
    )
    return sorted([*args.socket_strings, *built])


def main() -> None:
    CommandLineInterface.entrypoint()
