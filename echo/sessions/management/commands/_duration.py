from __future__ import annotations

import re
from argparse import ArgumentTypeError
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d`, `2w`; `ArgumentTypeError` (argparse's one-line usage error) else."""
    match = _DURATION.match(text)
    if match is None:
        raise ArgumentTypeError(
            f"{text!r} is not a duration like 90s, 30m, 12h, 7d or 2w (a unit is required)"
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})
