"""Benchmark the project under Daphne against FastAPI + sse-starlette under uvicorn, in one run.

    .venv/bin/python bench/run.py              # every scenario, 3 alternated runs, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --quick      # smoke run of a few seconds, writes bench/out/RESULTS-quick.md
    .venv/bin/python bench/run.py idle --runs 1
    .venv/bin/python bench/run.py --list

Each trial starts a fresh server pinned to core 0; this process, the client, pins itself to
core 1. Raw results go to `bench/out/` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _client import raise_nofile_limit
from _report import machine_info, render, source_info, summarize
from _scenarios import SCENARIOS
from _servers import BENCH, KINDS, ROOT, running

SERVER_CPU, CLIENT_CPU = 0, 1
OUT = BENCH / "out"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="default: all of them")
    parser.add_argument("--quick", action="store_true", help="small loads, one run: a smoke test")
    parser.add_argument("--runs", type=int, help="runs per scenario and server (default 3, 1 with --quick)")
    parser.add_argument("--servers", default="project,reference", help="comma-separated, default both")
    parser.add_argument("--results", type=Path, help="Markdown output (default bench/RESULTS.md)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.scenarios = args.scenarios or list(SCENARIOS)
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    if not args.servers or any(name not in KINDS for name in args.servers):
        parser.error(f"--servers takes a comma-separated subset of {', '.join(KINDS)}")
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.results is None:
        args.results = OUT / "RESULTS-quick.md" if args.quick else BENCH / "RESULTS.md"
    return args


def pin_client() -> str:
    cores = os.sched_getaffinity(0)
    if not {SERVER_CPU, CLIENT_CPU} <= cores:
        return f"none (this process may only use cores {sorted(cores)})"
    os.sched_setaffinity(0, {CLIENT_CPU})
    return f"server on core {SERVER_CPU}, client on core {CLIENT_CPU}"


def run_trial(
    kind_name: str, scenario_name: str, params: dict[str, Any], workdir: Path, cpu: int | None
) -> dict[str, Any]:
    scenario = SCENARIOS[scenario_name]
    with running(KINDS[kind_name], workdir, cpu=cpu) as server:
        pinned = server.cpus_allowed()
        result = asyncio.run(scenario.trial(server, params))
    return {"result": result, "server_cpus_allowed": pinned}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:12} {scenario.title}")
        return 0
    pinning = pin_client()
    server_cpu = SERVER_CPU if pinning.startswith("server") else None
    nofile = raise_nofile_limit(20_000)
    OUT.mkdir(exist_ok=True)
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report: dict[str, Any] = {
        "command": shlex.join(
            [".venv/bin/python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "runs": args.runs,
        "pinning": pinning,
        "nofile_soft_limit": nofile,
        "machine": machine_info(),
        "source": source_info(),
        "loadavg_before": os.getloadavg(),
        "scenarios": {},
    }
    with tempfile.TemporaryDirectory(prefix="sse-bench-") as tmp:
        workdir = Path(tmp)
        for name in args.scenarios:
            scenario = SCENARIOS[name]
            params = scenario.params(args.quick)
            trials: list[dict[str, Any]] = []
            for run in range(args.runs):
                order = args.servers if run % 2 == 0 else args.servers[::-1]
                for kind_name in order:
                    print(
                        f"[{time.monotonic() - started:6.1f}s] {name} run {run + 1}/{args.runs}: {kind_name}",
                        flush=True,
                    )
                    trial: dict[str, Any] = {"kind": kind_name, "run": run + 1}
                    try:
                        trial |= run_trial(kind_name, name, params, workdir, server_cpu)
                    except Exception as exc:
                        trial["error"] = "".join(traceback.format_exception_only(exc)).strip()
                        traceback.print_exc()
                    else:
                        shown = ", ".join(f"{k}={v:.4g}" for k, v in trial["result"].items())
                        print(f"          {shown}", flush=True)
                    trials.append(trial)
            report["scenarios"][name] = {
                "params": params,
                "trials": trials,
                "summary": {kind: summarize(trials, scenario, kind) for kind in args.servers},
            }
    report["loadavg_after"] = os.getloadavg()
    report["duration_s"] = time.monotonic() - started
    raw = OUT / f"{stamp}{'-quick' if args.quick else ''}.json"
    report["raw"] = str(raw.relative_to(ROOT))
    raw.write_text(json.dumps(report, indent=2) + "\n")
    args.results.write_text(render(report))
    print(f"wrote {args.results} and {raw} in {report['duration_s']:.0f}s")
    failed = sum("error" in t for s in report["scenarios"].values() for t in s["trials"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
