"""`EventDecoder` (the testing helper's reader) against the reference parser written from the
spec (`tests/whatwg.py`), on any stream cut into any chunks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from echo.sse.wire.decode import EventDecoder

from .. import whatwg

# Lines built from the pieces a stream is made of, each line ending in one of the three endings.
pieces = st.sampled_from(
    [
        "data",
        "data:",
        "data: x",
        "data:  two",
        "event: e",
        "event:",
        "id: 7",
        "id",
        "id: a\0b",
        "retry: 50",
        "retry: x",
        ": comment",
        "",
        "other: z",
        "\ufeffdata: bom",
        "data: é€",
    ]
)
endings = st.sampled_from(["\n", "\r", "\r\n"])
streams = st.lists(st.tuples(pieces, endings), max_size=30).map(
    lambda lines: "".join(a + b for a, b in lines)
)


def decode_in_chunks(body: bytes, cuts: list[int]) -> tuple[list[tuple[str, str, str]], int | None, str]:
    decoder = EventDecoder()
    events = []
    start = 0
    for cut in [*sorted(cut % (len(body) + 1) for cut in cuts), len(body)]:
        events += decoder.feed(body[start:cut]) if cut >= start else []
        start = max(start, cut)
    events += decoder.close()
    read = [(e.event or "", e.data or "", str(e.id or "")) for e in events]
    return read, decoder.retry, decoder.last_event_id


@given(st.booleans(), streams, st.lists(st.integers(min_value=0), max_size=8))
def test_the_decoder_reads_what_the_spec_reads_however_the_bytes_arrive(
    bom: bool, text: str, cuts: list[int]
) -> None:
    body = (("\ufeff" if bom else "") + text).encode()
    expected = whatwg.parse(body)

    events, retry, last_id = decode_in_chunks(body, cuts)

    assert events == [(e.type, e.data, e.last_event_id) for e in expected.events]
    assert retry == expected.retry
    assert last_id == expected.last_event_id


def test_an_event_carries_the_retry_its_block_set() -> None:
    (first, second) = EventDecoder().feed(b"retry: 10\ndata: a\n\ndata: b\n\n")

    assert (first.retry, second.retry) == (10, None)
