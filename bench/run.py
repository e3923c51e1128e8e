"""The bench: every scenario against its servers, alternated, each at least three times.

    .venv/bin/python bench/run.py [--quick] [--runs 3] [--list] [scenario ...]

Each trial is one process (`python -m bench.scenarios.<module> --variant V`) that starts a fresh
server, loads it and prints one JSON line; the order of the variants flips from one run to the
next. Raw lines go to bench/out/<name>.jsonl; the report (bench/report.py) to bench/RESULTS.md
(`--quick`: bench/out/RESULTS-quick.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write  # noqa: E402

OUT = ROOT / "bench" / "out"
SSE2 = ["project", "reference"]
FANOUT = ["project-bench", "eventstream"]
WORKERS = ["project-w1", "project-w2", "uvicorn-w1", "uvicorn-w2"]
BENCH_WORKERS = ["project-bench-w1", "project-bench-w2", "project-bench-w1-pg", "project-bench-w2-pg"]
# name: (module, its arguments, the variants, what it answers)
SCENARIOS: dict[str, tuple[str, list[str], list[str], str]] = {
    "churn-end": (
        "churn",
        ["--shape", "end"],
        [*SSE2, "reference-noping", "floor"],
        "target 2: the stream ends",
    ),
    "churn-leave": (
        "churn",
        ["--shape", "leave"],
        [*SSE2, "reference-noping"],
        "target 2: the client leaves",
    ),
    "throughput1": ("throughput", ["--streams", "1"], SSE2, "target 3: one stream"),
    "throughput20": ("throughput", ["--streams", "20"], SSE2, "target 3: 20 streams"),
    "capacity10k": (
        "capacity",
        ["--streams", "10000"],
        [*SSE2, "reference-noping"],
        "target 4: 10,000 streams",
    ),
    # 19,900: a process here may open 20,000 descriptors, and root may not raise it (no CAP_SYS_RESOURCE).
    "capacity20k": ("capacity", ["--streams", "19900"], ["project"], "target 4: 19,900 in one process"),
    "publish": ("publish", [], ["sqlite", "pg", "pg-durable"], "target 5: one publish, stored and announced"),
    "fanout1k": ("fanout", ["--subscribers", "1000"], FANOUT, "target 5: fan-out, one event at a time"),
    "fanout1k-burst": ("fanout", ["--subscribers", "1000", "--shape", "burst"], FANOUT, "target 5: a burst"),
    "fanout10k": ("fanout", ["--subscribers", "10000"], ["project-bench"], "target 5: 10,000 subscribers"),
    "storm": ("storm", ["--clients", "10000"], SSE2, "target 6: a reconnect storm"),
    "workers-churn": ("churn", ["--shape", "end"], WORKERS, "target 1: churn, N workers"),
    "workers-throughput20": ("throughput", ["--streams", "20"], WORKERS, "target 1: 20 streams"),
    "workers-capacity": ("capacity", ["--streams", "10000"], WORKERS, "target 1: 10,000 held streams"),
    "workers-fanout": ("fanout", ["--subscribers", "1000"], BENCH_WORKERS, "target 1: fan-out, N workers"),
}


def trial(module: str, arguments: list[str], variant: str, quick: bool) -> dict[str, object]:
    command = [sys.executable, "-m", f"bench.scenarios.{module}", "--variant", variant, *arguments]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDEVMODE", None)  # debug modes would slow the load
    done = subprocess.run(
        command + (["--quick"] if quick else []),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"variant": variant, "failed": done.returncode, "stderr": done.stderr[-1500:]}
    return dict(json.loads(lines[-1]))


def main() -> int:
    found = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    found.add_argument("scenarios", nargs="*", help="names (default: all)")
    found.add_argument("--runs", type=int, default=3)
    found.add_argument("--quick", action="store_true", help="small loads: a smoke run")
    found.add_argument("--list", action="store_true")
    found.add_argument("--results", type=Path, help="the report's path")
    args = found.parse_args()
    if args.list:
        for name, (module, arguments, variants, why) in SCENARIOS.items():
            print(f"{name:22} {module} {' '.join(arguments):22} {', '.join(variants)}  ({why})")
        return 0
    names = args.scenarios or [name for name in SCENARIOS if not name.startswith("workers")]
    OUT.mkdir(exist_ok=True)
    failed = 0
    results: dict[str, list[dict[str, object]]] = {}
    for name in names:
        module, arguments, variants, _ = SCENARIOS[name]
        results[name] = []
        for run in range(args.runs):
            for variant in variants if run % 2 == 0 else variants[::-1]:
                row = {"run": run, "variant": variant, **trial(module, arguments, variant, args.quick)}
                failed += "failed" in row
                print(name, json.dumps(row)[:300], flush=True)
                results[name].append(row)
        (OUT / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in results[name]))
    default = OUT / "RESULTS-quick.md" if args.quick else ROOT / "bench" / "RESULTS.md"
    write(results, {name: SCENARIOS[name][3] for name in names}, args.results or default, sys.argv[1:])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
