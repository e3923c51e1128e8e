"""Wire encoding of one server-sent event (WHATWG HTML, "Server-sent events").

Divergences from a plain "write what you are given" encoder, all deliberate:

- A value that the parser would read differently is refused with `FieldError`, never cleaned:
  CR or LF in `event` or `id` would start a new field, and NUL in `id` makes the parser drop it.
- `data` is split on CRLF, CR and LF (the spec's three line endings, and only those: not
  `str.splitlines`'s wider set) into one `data:` line each, so it round-trips exactly.
- A comment with line breaks becomes several comment lines: comments are ignored by parsers, so
  splitting them cannot change what a client sees.
- Lines end with LF alone, which the spec allows; every field has a space after its colon so a
  value that starts with a space survives the parser's removal of one leading space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..exceptions import FieldError

__all__ = ["ServerSentEvent"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CR_LF = re.compile(r"[\r\n]")
_CR_LF_NUL = re.compile(r"[\r\n\0]")
# A lone surrogate cannot be written as UTF-8: refuse it up front rather than mid-stream.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise FieldError(f"{name} must be a str, not {type(value).__name__}")
    if _SURROGATE.search(value):
        raise FieldError(f"{name} must not contain lone surrogates: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    data: str | None = None
    event: str | None = None
    id: str | int | None = None
    retry: int | None = None
    comment: str | None = None
    # The encoded bytes, kept so that an event sent to many clients is encoded once.
    _encoded: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.data is not None:
            _check_text("data", self.data)
        if self.event is not None and _CR_LF.search(_check_text("event", self.event)):
            raise FieldError(f"event must not contain CR or LF: {self.event!r}")
        if self.id is not None:
            if isinstance(self.id, bool) or not isinstance(self.id, (str, int)):
                raise FieldError(f"id must be a str or an int, not {type(self.id).__name__}")
            if isinstance(self.id, int):
                int.__str__(self.id)  # refuses an int too long to write, now rather than mid-stream
            elif _CR_LF_NUL.search(_check_text("id", self.id)):
                raise FieldError(f"id must not contain CR, LF or NUL: {self.id!r}")
        if self.retry is not None and (
            isinstance(self.retry, bool) or not isinstance(self.retry, int) or self.retry < 0
        ):
            raise FieldError(f"retry must be a non-negative int, not {self.retry!r}")
        if self.comment is not None:
            _check_text("comment", self.comment)

    def encode(self) -> bytes:
        if self._encoded is None:
            object.__setattr__(self, "_encoded", self._encode())
        assert self._encoded is not None
        return self._encoded

    def _encode(self) -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in _LINE_BREAK.split(self.comment))
        if self.id is not None:
            # int.__str__ rather than format(): an int subclass must not choose its own text.
            lines.append(f"id: {int.__str__(self.id) if isinstance(self.id, int) else self.id}")
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.data is not None:
            lines.extend(f"data: {line}" for line in _LINE_BREAK.split(self.data))
        if self.retry is not None:
            lines.append(f"retry: {int.__str__(self.retry)}")
        lines.append("\n")
        return "\n".join(lines).encode("utf-8")
