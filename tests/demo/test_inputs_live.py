"""No input makes a 500 or a hung stream: random query strings, Last-Event-ID values, channel
lists and methods, thrown at a live server. Every answer is a 2xx event stream (read to its
headers) or a 4xx with a JSON body, within the client's timeout."""

from __future__ import annotations

import string
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..servers import Server

pytestmark = [pytest.mark.live, pytest.mark.slow]

PATHS = ["/sse", "/sse2", "/sse3", "/events/{channels}/", "/events/{channel}/publish"]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
# What a URL or a header may carry, the wire format's special characters and digits over-weighted.
_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from([*string.digits, *",:._-%+ ", "\u00b2", "\u0660", "\u00e9", "\u2028"]),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=40,
)
_NUMBERISH = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(alphabet="0123456789.", max_size=5000),
    _TEXT,
)
_PARAMS = st.dictionaries(
    st.sampled_from(["message", "interval", "limit", "resumable", "lastEventId", "other"]),
    st.one_of(_NUMBERISH, _TEXT, st.text(alphabet=st.characters(codec="utf-8"), max_size=2000)),
    max_size=5,
)
_CHANNELS = st.one_of(
    st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True), min_size=1, max_size=40).map(
        ",".join
    ),
    _TEXT.filter(bool),
)
_LAST_EVENT_ID = st.one_of(
    st.none(),
    st.text(alphabet=string.printable.replace("\r", "").replace("\n", ""), max_size=60),
    st.integers(min_value=0, max_value=10**40).map(str),
    st.builds(
        lambda name, n: f"{name}:{n}", st.sampled_from(["demo", "news", "echo", "x"]), st.integers(0, 10**25)
    ),
    st.just("demo:" + "9" * 5000),
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(PATHS),
    method=st.sampled_from(METHODS),
    params=_PARAMS,
    channels=_CHANNELS,
    last_event_id=_LAST_EVENT_ID,
)
def test_no_input_is_a_500_or_a_hang(
    server: Server, path: str, method: str, params: dict[str, str], channels: str, last_event_id: str | None
) -> None:
    url = path.format(channels=quote(channels, safe=","), channel=quote(channels.split(",")[0], safe=""))
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    with (
        httpx.Client(base_url=server.url, timeout=5.0) as client,
        client.stream(method, url, params=params, headers=headers) as response,
    ):
        status = response.status_code
        assert status < 500, (method, url, params, headers, response.read()[:300])
        if (
            200 <= status < 300
            and method != "HEAD"
            and response.headers.get("content-type", "").startswith("text/event-stream")
        ):
            return  # a stream: its headers are in, which is all this asks of it
        body = response.read()
        if 400 <= status < 500 and status != 404:
            assert response.headers["content-type"].startswith("application/json"), (url, status, body[:200])
