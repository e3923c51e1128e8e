"""bench/RESULTS.md from the trials' JSON: per scenario, each figure's median and its range over
the runs, per variant, with the CPU-speed probe measured beside each trial."""

from __future__ import annotations

import datetime
import os
import statistics
import subprocess
from pathlib import Path

Row = dict[str, object]
SKIP = {"run", "variant", "first_errors", "stderr", "failed", "skipped"}


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    middle = statistics.median(values)
    return f"{_num(middle)} [{_num(min(values))}-{_num(max(values))}]" if len(values) > 1 else _num(middle)


def _num(value: float) -> str:
    if value != value:  # NaN: not reached
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _values(rows: list[Row], variant: str, key: str) -> list[float]:
    found = [row.get(key) for row in rows if row.get("variant") == variant]
    return [float(value) for value in found if isinstance(value, int | float)]


def table(name: str, why: str, rows: list[Row]) -> list[str]:
    variants = list(dict.fromkeys(str(row["variant"]) for row in rows))
    keys = list(dict.fromkeys(key for row in rows for key in row if key not in SKIP))
    lines = [f"## {name}: {why}", "", "| figure | " + " | ".join(variants) + " | ratio |"]
    lines.append("|---|" + "---:|" * (len(variants) + 1))
    for key in keys:
        columns = [_values(rows, variant, key) for variant in variants]
        ratio = "-"
        if len(columns) > 1 and columns[0] and columns[1] and statistics.median(columns[1]):
            ratio = f"{statistics.median(columns[0]) / statistics.median(columns[1]):.2f}x"
        lines.append(f"| {key} | " + " | ".join(_cell(column) for column in columns) + f" | {ratio} |")
    notes = {
        f"{row['variant']}: {row.get('skipped') or row.get('stderr')}" for row in rows if "variant" in row
    }
    return [*lines, "", *(f"- {note[-500:]}" for note in sorted(notes) if not note.endswith(": None")), ""]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()


def write(results: dict[str, list[Row]], why: dict[str, str], path: Path, argv: list[str]) -> None:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")  # fmt: skip
    lines = [
        "# Bench results",
        "",
        f"`bench/run.py {' '.join(argv)}` at {_git('rev-parse', '--short', 'HEAD')}"
        f"{' (uncommitted changes)' if _git('status', '--porcelain') else ''}, "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} x {model}; "
        f"load average at the end {os.getloadavg()[0]:.2f}.",
        "",
        "Each cell: the median over the runs [min-max]; `ratio`: the first variant's median over the "
        "second's; `probe`: the load core's speed before each trial. Method: bench/README.md.",
        "",
    ]
    for name, rows in results.items():
        lines += table(name, why[name], rows)
    path.write_text("\n".join(lines))
    print(f"wrote {path}")
