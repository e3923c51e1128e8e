"""Benchmark the project under Daphne against FastAPI + sse-starlette under uvicorn, in one run.

    .venv/bin/python bench/run.py              # every scenario, 3 alternated runs, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --quick      # smoke run, < 1 min, writes bench/out/RESULTS-quick.md
    .venv/bin/python bench/run.py capacity fanout --runs 1 --results bench/out/some.md
    .venv/bin/python bench/run.py throughput --variants project
    .venv/bin/python bench/run.py --list

Each trial starts a fresh server pinned to core 0; this process, the client, pins itself to
core 1. Raw results go to `bench/out/` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shlex
import socket
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _client import LOCAL_HOSTS, raise_nofile_limit
from _report import machine_info, plot_lateness, render, source_info, summarize
from _scenarios import SCENARIOS, Variant
from _servers import BENCH, KINDS, ROOT, running

SERVER_CPU, CLIENT_CPU = 0, 1
OUT = BENCH / "out"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help="default: all but the ones marked (extra) in --list"
    )
    parser.add_argument("--quick", action="store_true", help="small loads, one run: a smoke test")
    parser.add_argument("--runs", type=int, help="runs per scenario and variant (default 3, 1 with --quick)")
    parser.add_argument(
        "--variants",
        "--servers",
        help="comma-separated variant names to run (e.g. project); default: every variant of a scenario",
    )
    parser.add_argument(
        "--results", type=Path, help="Markdown output (default bench/RESULTS.md, quick: bench/out/)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PARAM=JSON",
        help="override a parameter of every selected scenario that has it, e.g. --set 'steps=[1000,2000]'",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    try:
        args.set = dict(_override(item) for item in args.set)
    except ValueError as exc:
        parser.error(str(exc))
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.scenarios = args.scenarios or [name for name, s in SCENARIOS.items() if s.default]
    known = {v.name for s in SCENARIOS.values() for v in s.variants}
    args.variants = [n.strip() for n in args.variants.split(",") if n.strip()] if args.variants else None
    if args.variants is not None and (not args.variants or set(args.variants) - known):
        parser.error(f"--variants takes a comma-separated subset of {', '.join(sorted(known))}")
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.results is None:
        args.results = OUT / "RESULTS-quick.md" if args.quick else BENCH / "RESULTS.md"
    return args


def _override(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--set takes PARAM=JSON, not {item!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"--set {key}: {raw!r} is not JSON") from None


def pin_client() -> str:
    cores = os.sched_getaffinity(0)
    if not {SERVER_CPU, CLIENT_CPU} <= cores:
        return f"none (this process may only use cores {sorted(cores)})"
    os.sched_setaffinity(0, {CLIENT_CPU})
    return f"server on core {SERVER_CPU}, client on core {CLIENT_CPU}"


def check_source_addresses() -> None:
    """The client binds its sockets to 127.0.0.2.. (see _client.LOCAL_HOSTS); fail early if it cannot."""
    for host in LOCAL_HOSTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))


def run_trial(
    variant: Variant, scenario_name: str, params: dict[str, Any], workdir: Path, cpu: int | None
) -> dict[str, Any]:
    scenario = SCENARIOS[scenario_name]
    with running(KINDS[variant.server], workdir, cpu=cpu) as server:
        facts = {"server_cpus_allowed": server.cpus_allowed(), "server_nofile": server.nofile_limit()}
        # No cyclic GC in the client during a trial: with 10k streams' worth of objects a full
        # collection would pause it for a noticeable time, and that pause would count as lateness.
        gc.collect()
        gc.disable()
        try:
            result = asyncio.run(scenario.trial(server, params | variant.options))
        except Exception as exc:
            exc.add_note(f"server log tail:\n{server.log_tail(2000)}")
            raise
        finally:
            gc.enable()
            gc.collect()
    return {"result": result, **facts}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for scenario in SCENARIOS.values():
            extra = "" if scenario.default else " (extra)"
            variants = ", ".join(v.name for v in scenario.variants)
            print(f"{scenario.name:13} {scenario.title}{extra} [{variants}]")
        return 0
    check_source_addresses()
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
            params |= {key: value for key, value in args.set.items() if key in params}
            variants = [v for v in scenario.variants if args.variants is None or v.name in args.variants]
            if not variants:
                print(f"skipping {name}: none of its variants was asked for", flush=True)
                continue
            runs = scenario.runs if scenario.runs is not None else args.runs
            trials: list[dict[str, Any]] = []
            for run in range(runs):
                order = variants if run % 2 == 0 else variants[::-1]
                for variant in order:
                    print(
                        f"[{time.monotonic() - started:6.1f}s] {name} run {run + 1}/{runs}: {variant.name}",
                        flush=True,
                    )
                    trial: dict[str, Any] = {"variant": variant.name, "run": run + 1}
                    try:
                        trial |= run_trial(variant, name, params, workdir, server_cpu)
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
                "summary": {v.name: summarize(trials, v.name) for v in variants},
            }
    report["loadavg_after"] = os.getloadavg()
    report["duration_s"] = time.monotonic() - started
    raw = OUT / f"{stamp}{'-quick' if args.quick else ''}.json"
    report["raw"] = str(raw.relative_to(ROOT))
    plot = OUT / "lateness-quick.png" if args.quick else BENCH / "lateness.png"
    if plot_lateness(report, plot):
        report["plot"] = os.path.relpath(plot, args.results.resolve().parent)
        print(f"wrote {plot}")
    raw.write_text(json.dumps(report, indent=2) + "\n")
    args.results.write_text(render(report))
    print(f"wrote {args.results} and {raw} in {report['duration_s']:.0f}s")
    failed = sum("error" in t for s in report["scenarios"].values() for t in s["trials"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
