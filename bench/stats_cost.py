"""What the always-on counters behind the metrics (`echo.sse.runtime.stats`) cost a stream, and a scrape.

    .venv/bin/python bench/stats_cost.py    # writes bench/out/stats-cost.md

A stream pays two counter updates (one as it opens, one as it ends, under the counter's lock);
no event is counted on its own (a stream's events and bytes are in its `StreamInfo`, summed when
read). The figures: nanoseconds per stream for those two updates, the median over rounds, and
the milliseconds one `GET /metrics` spends building its text with N streams open (the open
gauge and the live sums walk every stream). Set against what one connect costs the server
(about a millisecond of CPU, docs/performance.md), the counters are in the noise of the recording
scenario, which measures recording and scraping together.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sse_project.settings")


class _Stream:
    """What the registry keeps of a stream: its info (the `EndableStream` shape)."""

    def __init__(self, info: object) -> None:
        self.info = info

    def end_stream(self, reason: object, final: object = None) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=100_000, help="streams counted per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--open", type=int, default=10_000, help="streams open during the scrape rounds")
    args = parser.parse_args()

    import django

    django.setup()
    from prometheus_client import REGISTRY, generate_latest

    from echo.sse.runtime.registry import registry
    from echo.sse.runtime.stream_info import StreamInfo
    from echo.sse.wire.endings import EndReason

    info = StreamInfo(name="bench", end_reason=EndReason.COMPLETED)
    per_stream: list[float] = []
    for _ in range(args.rounds):
        began = time.perf_counter_ns()
        for _ in range(args.streams):
            registry.count_end(info)  # the end's update
        middle = time.perf_counter_ns()
        opened = registry._live  # the open's update is a dict entry and the count: emptied after
        stream = _Stream(info)
        for _ in range(args.streams):
            registry.register(stream)  # type: ignore[arg-type]
        done = time.perf_counter_ns()
        opened.clear()
        per_stream.append(((middle - began) + (done - middle)) / args.streams)

    for n in range(args.open):
        registry.register(_Stream(StreamInfo(id=uuid.UUID(int=n + 1), name=f"s{n % 40}", events_sent=n)))  # type: ignore[arg-type]
    scrapes: list[float] = []
    for _ in range(args.rounds):
        began = time.perf_counter()
        text = generate_latest(REGISTRY)
        scrapes.append((time.perf_counter() - began) * 1000)
    registry.reset()

    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    report = (
        "# The counters behind the metrics (bench/stats_cost.py)\n\n"
        f"- Python {sys.version.split()[0]}, {args.rounds} rounds, median.\n"
        f"- Per stream (its open and its end counted): {statistics.median(per_stream):.0f} ns "
        f"(register with the count and count_end; {args.streams:,} streams a round).\n"
        f"- One scrape (`generate_latest`) with {args.open:,} streams open: "
        f"{statistics.median(scrapes):.1f} ms, {len(text):,} bytes.\n"
    )
    (out / "stats-cost.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
