"""`echo.sse.glue.redact`: what is kept of a query string, case by case."""

from __future__ import annotations

import pytest

from echo.sse.glue.redact import REDACTED, is_secret, redact_query, redact_target

CASES = [
    ("token=abc&message=hi", "token=[redacted]&message=hi"),
    ("message=hi&access_token=abc", "message=hi&access_token=[redacted]"),
    ("PASSWORD=abc&Token=x", "PASSWORD=[redacted]&Token=[redacted]"),
    (
        "apiKey=abc&X-Amz-Signature=def&client_secret=ghi",
        "apiKey=[redacted]&X-Amz-Signature=[redacted]&client_secret=[redacted]",
    ),
    (
        "refresh_token=a&id_token=b&jwt=c&sig=d&auth=e&code=f",
        "refresh_token=[redacted]&id_token=[redacted]&jwt=[redacted]&sig=[redacted]&auth=[redacted]&code=[redacted]",
    ),
    (
        "sessionid=a&session=b&passwd=c&credential=d&apikey=e&api_key=f",
        "sessionid=[redacted]&session=[redacted]&passwd=[redacted]&credential=[redacted]&apikey=[redacted]&api_key=[redacted]",
    ),
    # Percent-encoded names are matched decoded; the rest is kept byte for byte.
    ("to%6Ben=abc&message=a%20b+c", "to%6Ben=[redacted]&message=a%20b+c"),
    ("access+token=abc", "access+token=[redacted]"),
    # Words, not substrings: these are not credentials.
    (
        "monkey=1&keys=2&tokens=3&lastEventId=4&message=token",
        "monkey=1&keys=2&tokens=3&lastEventId=4&message=token",
    ),
    # A name without a value has nothing to hide; repeated names are each redacted.
    ("token&token=&token=a&token=b", "token&token=&token=[redacted]&token=[redacted]"),
    ("", ""),
    ("message=hi", "message=hi"),
    ("a=1&&b=2", "a=1&&b=2"),
]


@pytest.mark.parametrize(("query", "kept"), CASES)
def test_the_values_of_credentials_are_replaced_and_everything_else_is_kept(query: str, kept: str) -> None:
    assert redact_query(query) == kept


def test_the_names_are_the_callers_to_choose() -> None:
    assert redact_query("token=a&pin=1234", ["pin"]) == "token=a&pin=[redacted]"
    assert redact_query("token=a", []) == "token=a"
    assert is_secret("Pin", ("PIN",))


def test_a_request_target_keeps_its_path() -> None:
    assert redact_target("/sse2?token=abc&message=hi") == f"/sse2?token={REDACTED}&message=hi"
    assert redact_target("/events/token=abc/") == "/events/token=abc/"
    assert redact_target("/sse2?") == "/sse2?"
