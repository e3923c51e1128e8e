"""What the run was measured on, and the Markdown that `run.py` writes to `bench/RESULTS.md`."""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import sys
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from _scenarios import SCENARIOS, Scenario, Variant
from _servers import ROOT

PACKAGES = (
    "Django",
    "daphne",
    "Twisted",
    "pydantic",
    "uvicorn",
    "h11",
    "fastapi",
    "starlette",
    "sse-starlette",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> list[str]:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return done.stdout.split()


def source_info() -> dict[str, Any]:
    """The commit measured, and the project files that differ from it (read-only git queries)."""
    paths = ("echo", "sse_project")
    return {
        "commit": next(iter(_git("rev-parse", "--short", "HEAD")), "unknown"),
        "modified": _git("diff", "--name-only", "HEAD", "--", *paths),
        "untracked": _git("ls-files", "--others", "--exclude-standard", "--", *paths),
    }


def machine_info() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "versions": versions,
        "uvloop_installed": find_spec("uvloop") is not None,
        "httptools_installed": find_spec("httptools") is not None,
    }


def summarize(trials: list[dict[str, Any]], variant: str) -> dict[str, Any]:
    """Median, min and max of every number the successful trials of one variant returned."""
    good = [t["result"] for t in trials if t["variant"] == variant and "result" in t]
    summary: dict[str, Any] = {
        "runs": len(good),
        "errors": sum(1 for t in trials if t["variant"] == variant) - len(good),
    }
    keys = dict.fromkeys(key for result in good for key in result)
    for key in keys:
        values = [r[key] for r in good if key in r and not math.isnan(r[key])]
        if values:
            summary[key] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "values": values,
            }
    return summary


def _cell(stat: dict[str, float] | None, fmt: str) -> str:
    if not stat:
        return "n/a"
    if len(stat["values"]) == 1:
        return format(stat["median"], fmt)
    return f"{stat['median']:{fmt}} ({stat['min']:{fmt}} - {stat['max']:{fmt}})"


def _ratio(a: dict[str, float] | None, b: dict[str, float] | None) -> str:
    if not a or not b or b["median"] == 0:
        return "n/a"
    return f"{a['median'] / b['median']:.2f}"


def _variants(scenario: Scenario, result: dict[str, Any]) -> list[Variant]:
    return [v for v in scenario.variants if v.name in result["summary"]]


def _targets(report: dict[str, Any]) -> list[str]:
    rows: dict[str, list[str]] = {}
    for name, result in report["scenarios"].items():
        scenario = SCENARIOS[name]
        for target in scenario.targets:
            verdict = target.evaluate(result["summary"], result["params"])
            shown = {True: "**PASS**", False: "**MISS**", None: "n/a"}[verdict.passed]
            rows.setdefault(target.group, []).append(
                f"| {target.requirement} | {target.goal} | {verdict.measured} | {shown} | "
                f"{verdict.context} | `{name}` |"
            )
    lines = ["## Targets", ""]
    if report.get("quick"):
        lines += ["(Quick run: small sizes, one run; the verdicts mean nothing.)", ""]
    for group in sorted(rows):
        lines += [
            f"### {group}",
            "",
            "| requirement | target | measured | verdict | context | scenario |",
            "|---|---|---:|---|---|---|",
            *rows[group],
            "",
        ]
    return lines


def _scenario_table(scenario: Scenario, result: dict[str, Any]) -> list[str]:
    variants = _variants(scenario, result)
    summaries = [result["summary"][v.name] for v in variants]
    stepped = [m for m in scenario.metrics if "{step}" in m.key]
    lines: list[str] = []
    if stepped:
        steps = result["params"]["steps"]
        lines += [
            "| metric | server | " + " | ".join(f"{step:,} streams" for step in steps) + " |",
            "|---|---|" + "---:|" * len(steps),
        ]
        for metric in stepped:
            for variant, summary in zip(variants, summaries, strict=True):
                cells = [_cell(summary.get(metric.key.format(step=step)), metric.fmt) for step in steps]
                lines.append(f"| {metric.label} | {variant.name} | " + " | ".join(cells) + " |")
        lines.append("")
    plain = [m for m in scenario.metrics if "{step}" not in m.key]
    if plain:
        ratio = len(variants) == 2 and scenario.ratio
        lines += [
            "| metric | "
            + " | ".join(v.label for v in variants)
            + (f" | {variants[0].name} / {variants[1].name} |" if ratio else " |"),
            "|---|" + "---:|" * (len(variants) + ratio),
        ]
        for metric in plain:
            cells = [_cell(summary.get(metric.key), metric.fmt) for summary in summaries]
            if ratio:
                cells.append(_ratio(summaries[0].get(metric.key), summaries[1].get(metric.key)))
            lines.append(f"| {metric.label} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def render(report: dict[str, Any]) -> str:
    machine = report["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    load_before = " ".join(f"{x:.2f}" for x in report["loadavg_before"])
    load_after = " ".join(f"{x:.2f}" for x in report["loadavg_after"])
    pinning = report["pinning"]
    source = report["source"]
    lines = [
        "# Benchmark results: the project under Daphne vs. FastAPI + sse-starlette under uvicorn",
        "",
        f"Generated by `{report['command']}` on {report['date']} ({report['duration_s']:.0f} s), after "
        "`.venv/bin/pip install -r bench/requirements.txt`. See `bench/README.md` for the method.",
        "",
    ]
    if report.get("quick"):
        lines += ["**Quick smoke run: one short run per server; these numbers mean nothing.**", ""]
    if report["loadavg_before"][0] > 0.5:
        lines += [
            f"> **Possibly noisy.** The 1-minute load average was {load_before.split()[0]} when this run "
            "started (other work was running or had just ended): absolute numbers and ratios are only "
            "indicative; rerun on a quiet machine.",
            "",
        ]
    lines += [
        "> A 2-core virtual machine: trials of the same code vary by 10-30 % between runs (see the "
        "min - max in each cell), so compare medians and ranges, not single runs.",
        "",
        *_targets(report),
        "## Machine and method",
        "",
        f"- nproc: {machine['nproc']}; CPU: {machine['cpu_model']}; kernel: {machine['kernel']}",
        f"- load average (1/5/15 min) before: {load_before}; after: {load_after}",
        f"- Python {machine['python']}; {versions}",
        f"- pinning: {pinning}; RLIMIT_NOFILE (soft) of the client: {report['nofile_soft_limit']}, "
        "of each server: its hard limit",
        f"- project source: commit {source['commit']}; uncommitted changes under echo/ and sse_project/: "
        f"{', '.join(source['modified'] + source['untracked']) or 'none'}",
        "- project: `daphne -v 0 -e 'tcp:port=PORT:interface=127.0.0.1:backlog=4096' "
        "sse_project.asgi:application`, "
        "`DJANGO_SETTINGS_MODULE=sse_project.settings`, `DJANGO_DEBUG=0`, a migrated temporary "
        "`ECHO_SQLITE_PATH` (as `make run`, but no access log, as the reference); "
        "Twisted's asyncio reactor on the stdlib loop. "
        "`fanout` and `recording` use the bench settings `django_bench.settings` (the same plus the bench "
        "urlconf, which can switch recording on and off).",
        "- reference: `uvicorn --app-dir bench reference_app:app --loop uvloop --http httptools "
        "--backlog 4096 "
        "--log-level warning` (`uvicorn[standard]`, as deployed: uvloop, httptools; "
        f"uvloop installed: {machine['uvloop_installed']}, httptools installed: "
        f"{machine['httptools_installed']}).",
        "- every trial starts a fresh server, warms it up (which checks the `/sse2` contract), then "
        f"measures; {report['runs']} run(s) per scenario and variant, the variants alternating (order "
        "flips each run).",
        "- cells: median (min - max) over the runs; ratio = first / second column of the medians.",
        "",
    ]
    for name, result in report["scenarios"].items():
        scenario = SCENARIOS[name]
        params = ", ".join(f"{k}={v}" for k, v in result["params"].items())
        lines += [f"## {scenario.title} (`{name}`: {params})", "", scenario.how, ""]
        lines += _scenario_table(scenario, result)
        summaries = result["summary"].values()
        busiest = max(
            (
                stat["max"]
                for summary in summaries
                for key, stat in summary.items()
                if key.startswith("client_cpu_pct") and isinstance(stat, dict)
            ),
            default=0,
        )
        if busiest >= 90:
            lines += [
                f"**Warning: the client reached {busiest:.0f} % of its core; it may have been the limit.**",
                "",
            ]
        runs = ", ".join(
            f"{variant} {summary.get('runs', 0)}" for variant, summary in result["summary"].items()
        )
        lines.append(f"Runs that succeeded: {runs}.")
        for trial in result["trials"]:
            if "error" in trial:
                lines.append(
                    f"- run {trial['run']} {trial['variant']} failed: {trial['error'].splitlines()[0]}"
                )
        lines.append("")
        if name == "capacity" and report.get("plot"):
            lines += [f"![p99 lateness vs concurrent streams]({report['plot']})", ""]
    lines += [f"Raw data: `{report['raw']}`.", ""]
    return "\n".join(lines)


def plot_lateness(report: dict[str, Any], path: Path) -> bool:
    """p99 lateness (median over runs, min-max as error bars) vs concurrent streams, one line per
    variant of the capacity scenario; False when there is nothing to plot."""
    result = report["scenarios"].get("capacity")
    if not result:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    steps = result["params"]["steps"]
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    plotted = False
    for variant in _variants(SCENARIOS["capacity"], result):
        summary = result["summary"][variant.name]
        points = [(s, summary[f"p99_ms_{s}"]) for s in steps if f"p99_ms_{s}" in summary]
        if not points:
            continue
        xs = [s for s, _ in points]
        ys = [stat["median"] for _, stat in points]
        errors = [
            [y - stat["min"] for y, (_, stat) in zip(ys, points, strict=True)],
            [stat["max"] - y for y, (_, stat) in zip(ys, points, strict=True)],
        ]
        axes.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=variant.label)
        for step, y in zip(xs, ys, strict=True):
            opened = summary.get(f"opened_{step}")
            if opened and opened["min"] < step:  # a stalled ramp: say how many streams were open
                axes.annotate(
                    f"only {opened['min']:,.0f} open",
                    (step, y),
                    textcoords="offset points",
                    xytext=(-8, 6),
                    ha="right",
                    fontsize=8,
                )
        plotted = True
    if not plotted:
        plt.close(figure)
        return False
    axes.axhline(50, color="grey", linestyle="--", linewidth=1, label="target: 50 ms")
    axes.set_xscale("log")
    axes.set_xticks(steps, [f"{s:,}" for s in steps])
    axes.xaxis.set_minor_locator(ticker.NullLocator())
    axes.set_yscale("log")
    axes.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    axes.yaxis.set_minor_locator(ticker.NullLocator())
    axes.set_xlabel("concurrent streams (/sse2?interval=1)")
    axes.set_ylabel("p99 lateness, ms (median of runs; bars: min-max)")
    axes.set_title(f"p99 event lateness vs concurrent streams ({report['date'][:10]})")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True
