from __future__ import annotations

import re
from datetime import timedelta

from django.core.management.base import CommandError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d`, `2w`."""
    match = _DURATION.match(text)
    if match is None:
        raise CommandError(f"{text!r} is not a duration like 90s, 30m, 12h, 7d or 2w.")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})
