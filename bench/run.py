"""Run every hydratune benchmark and write ``RESULTS.md`` and ``results.json``.

    .venv/bin/python bench/run.py            # make bench: the regression benchmarks
    .venv/bin/python bench/run.py --quick    # make bench-quick: small sizes, checks it runs
    .venv/bin/python bench/run.py --quick --out /tmp/b --only overhead,parallel
    .venv/bin/python bench/run.py --studies  # make bench-studies: research studies (bench/studies/)
    .venv/bin/python bench/run.py --cluster  # make bench-cluster: Slurm, many workers
    .venv/bin/python bench/run.py --search   # make bench-search: search quality (subset)
    .venv/bin/python bench/run.py --search --full  # make bench-search FULL=1: the whole grid
    .venv/bin/python bench/run.py --search --only search.sklearn_tasks --size medium

Each benchmark runs in its own Python process (``python -m bench.<name>``), one after the
other, with ``OMP_NUM_THREADS=1`` and ``MKL_NUM_THREADS=1`` set before Python starts; a failed
benchmark is reported in its section and the others still run. Every figure compares
contenders interleaved inside one benchmark process (see ``bench/common.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Regression benchmarks: each run of `make bench`; their targets lead bench/RESULTS.md.
BENCHMARKS = [
    "plugin_import",
    "overhead",
    "parallel",
    "end_to_end",
    "efficiency",
    "steering",
    "failure_aware",
    "tracking",
    "serve",
]
# Research studies (bench/studies/): `make bench-studies`, written to bench/studies/RESULTS.md.
STUDIES = [
    "studies.pruning",
    "studies.peers",
    "studies.architecture",
    "studies.transfer",
    "studies.transfer_mlp",
    "studies.schedules",
]
# Cluster benchmarks (bench/cluster/, they start Slurm and PostgreSQL): `make bench-cluster`,
# written to bench/cluster/RESULTS.md.
CLUSTER = ["cluster.slurm", "cluster.many_workers"]
# Search quality against other optimizers (bench/search/): `make bench-search`, written to
# bench/search/RESULTS.md; `--full` runs each suite's whole grid instead of its subset.
SEARCH = ["search.bbob", "search.mixint", "search.sklearn_tasks", "search.sweeper"]
# Each group: its benchmarks, its results folder under bench/, its title and its make target.
GROUPS = {
    "bench": (BENCHMARKS, "", "hydratune benchmarks", "bench"),
    "studies": (STUDIES, "studies", "hydratune research studies", "bench-studies"),
    "cluster": (CLUSTER, "cluster", "hydratune cluster benchmarks", "bench-cluster"),
    "search": (SEARCH, "search", "hydratune search benchmarks", "bench-search"),
}
PACKAGES = ["hydratune", "optuna", "hydra-core", "omegaconf", "lightning", "torch", "numpy"]
PINNING = (
    "`OMP_NUM_THREADS=1` and `MKL_NUM_THREADS=1` in the environment of every benchmark process"
    " (set by `bench/run.py` before Python starts); `torch.set_num_threads(1)` in each benchmark"
    " process, except the *1 worker x 2 threads* layout of the parallel benchmark"
    " (`torch.set_num_threads(2)` for that sweep); `n_jobs=2` workers with"
    " `hydra.sweeper.threads_per_worker=1` (the sweeper sets `torch.set_num_threads(1)` and"
    " `OMP_NUM_THREADS=1` in each worker). Tasks record `torch.get_num_threads()` to check it."
)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem = next(
        (
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        "0",
    )
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(int(mem) / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "load_average_at_start": os.getloadavg(),
    }


def run_benchmark(
    name: str, quick: bool, scratch: Path, full: bool = False, size: str = ""
) -> dict[str, Any]:
    """``python -m bench.<name>`` with its output streamed; its JSON result, or the error."""
    out = scratch / f"{name}.json"
    command = [sys.executable, "-m", f"bench.{name}", "--json", str(out)]
    command += ["--quick"] if quick else []
    command += ["--full"] if full else []
    command += ["--size", size] if size else []
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    start = time.monotonic()
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        for line in proc.stdout:
            tail.append(line)
            print(f"  {name}: {line}", end="", flush=True)
    seconds = time.monotonic() - start
    if proc.returncode != 0 or not out.exists():
        return {
            "title": name,
            "error": f"exit code {proc.returncode}",
            "output": "".join(tail),
            "seconds": seconds,
            "targets": [],
        }
    return json.loads(out.read_text())


def keep_earlier(report: dict[str, Any], earlier: Path, known: list[str]) -> dict[str, Any]:
    """The benchmarks of this ``--only`` run, with the rest of the group kept from the results
    it replaces (each with the date it ran), so RESULTS.md still covers the whole group."""
    previous = json.loads(earlier.read_text()) if earlier.exists() else {}
    if previous.get("group", report["group"]) != report["group"] or previous.get("quick"):
        return report["benchmarks"]
    merged = {}
    for name in known:
        if name in report["benchmarks"]:
            merged[name] = report["benchmarks"][name]
        elif name in previous.get("benchmarks", {}):  # none: a first run into a new --out
            merged[name] = {"date": previous["date"], **previous["benchmarks"][name]}
    return merged


def results_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    _, _, title, target = GROUPS[report["group"]]
    if report["quick"]:  # only the regression benchmarks have a make target for --quick
        target = "bench-quick" if report["group"] == "bench" else None
    if "--only" in report["command"]:  # a part of the group: not what the make target runs
        target = None
    lines = [
        f"# {title}",
        "",
        f"Written by `{report['command']}`"
        + (f" (`make {target}{' FULL=1' if report.get('full') else ''}`)" if target else "")
        + f" on {report['date']}; total {report['total_seconds'] / 60:.1f} min.",
    ]
    kept = {n: r["date"] for n, r in report["benchmarks"].items() if r["date"] != report["date"]}
    if kept:
        lines += [
            "",
            "Kept from earlier runs (this run was `--only` the others): "
            + ", ".join(f"{name} ({date})" for name, date in kept.items())
            + ".",
        ]
    if report["quick"]:
        lines += [
            "",
            "**--quick run**: sizes too small for the figures to mean anything; it only"
            " checks that every benchmark runs and reports.",
        ]
    lines += [
        "",
        "## Targets",
        "",
        "| benchmark | target | measured | verdict |",
        "|---|---|---|---|",
    ]
    missed = []
    for name, result in report["benchmarks"].items():
        if "error" in result:
            lines.append(f"| {name} | - | failed: {result['error']} | **failed** |")
        when = f" ({result['date'][:10]})" if name in kept else ""
        for t in result.get("targets", []):
            verdict = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
            lines.append(f"| {t['name']}{when} | {t['goal']} | {t['measured']} | {verdict} |")
            if t["met"] is False:
                missed.append(f"- **{t['name']}**: {t['why']}")
    if missed:
        lines += [
            "",
            "Why the missed targets are missed (from the measurements below):",
            "",
            *missed,
        ]
    lines += [
        "",
        "## Machine",
        "",
        f"- `nproc`: {m['nproc']} ({m['cpu_count']} CPUs); CPU: {m['cpu_model']};"
        f" memory {m['memory_gib']} GiB; Python {m['python']}; {m['platform']}",
        "- packages: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"- load average (1, 5, 15 min) at start: {_load(m['load_average_at_start'])}, at end:"
        f" {_load(report['load_average_at_end'])}. The machine is shared: absolute times move"
        " between runs, which is why every figure is a ratio of contenders run interleaved.",
        f"- thread pinning: {PINNING}",
    ]
    for name, result in report["benchmarks"].items():
        lines += [
            "",
            f"## {result.get('title', name)}",
            "",
            f"`python -m bench.{name}{' --quick' if report['quick'] else ''}"
            f"{' --full' if report.get('full') else ''}"
            f"{' --size ' + result['size'] if result.get('size') else ''}`,"
            f" {result.get('seconds', 0):.0f} s"
            + (f", run on {kept[name]}." if name in kept else "."),
            "",
        ]
        if "error" in result:
            lines += ["The benchmark failed:", "", "```", result["output"].rstrip(), "```"]
        else:
            lines.append(result["markdown"])
    return "\n".join(lines) + "\n"


def hand_sections(previous: str, written: str) -> str:
    """The ``## `` sections of the RESULTS.md an ``--only`` run replaces that the run does not
    write (studies spliced in by hand, which results.json does not hold), to append to it."""
    titles = {line for line in written.splitlines() if line.startswith("## ")}
    sections = re.split(r"(?m)^(?=## )", previous)[1:]
    return "".join(
        f"\n{section.rstrip()}\n" for section in sections if section.splitlines()[0] not in titles
    )


def _load(values: Any) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (CI: does it run?)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--studies", action="store_true", help=f"run the research studies {STUDIES} instead"
    )
    group.add_argument(
        "--cluster", action="store_true", help=f"run the cluster benchmarks {CLUSTER} instead"
    )
    group.add_argument(
        "--search", action="store_true", help=f"run the search benchmarks {SEARCH} instead"
    )
    parser.add_argument(
        "--full", action="store_true", help="with --search: each suite's whole grid (hours)"
    )
    parser.add_argument(
        "--size", help="with --search: a grid by name, for suites that have it (e.g. medium)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where RESULTS.md and results.json go (default: bench/, bench/studies/ or"
        " bench/cluster/)",
    )
    parser.add_argument("--only", help="comma-separated subset of the benchmarks or studies")
    args = parser.parse_args()
    group_name = (
        "studies"
        if args.studies
        else "cluster"
        if args.cluster
        else "search"
        if args.search
        else "bench"
    )
    if (args.full or args.size) and not args.search:
        parser.error("--full and --size go with --search")
    known, folder, _, _ = GROUPS[group_name]
    names = args.only.split(",") if args.only else known
    unknown = set(names) - set(known)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {known}")
    args.out = args.out or REPO / "bench" / folder

    start = time.monotonic()
    report: dict[str, Any] = {
        "command": shlex.join(
            [os.path.relpath(sys.executable, REPO), "bench/run.py", *sys.argv[1:]]
        ),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "full": args.full,
        "size": args.size,
        "group": group_name,
        "machine": machine(),
        "thread_pinning": PINNING,
        "benchmarks": {},
    }
    with tempfile.TemporaryDirectory(prefix="hydratune-bench-") as scratch:
        for i, name in enumerate(names, 1):
            print(
                f"[{time.monotonic() - start:7.1f}s] benchmark {i}/{len(names)}: {name}", flush=True
            )
            report["benchmarks"][name] = run_benchmark(
                name, args.quick, Path(scratch), args.full, args.size
            )
    report["total_seconds"] = time.monotonic() - start
    report["load_average_at_end"] = os.getloadavg()
    for result in report["benchmarks"].values():
        result["date"] = report["date"]
        result["size"] = args.size  # a kept result keeps its own
    if args.only and not args.quick:
        report["benchmarks"] = keep_earlier(report, args.out / "results.json", known)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, separators=(",", ":")))
    markdown = results_markdown(report)
    if args.only and not args.quick and (args.out / "RESULTS.md").exists():
        markdown += hand_sections((args.out / "RESULTS.md").read_text(), markdown)
    (args.out / "RESULTS.md").write_text(markdown)
    failed = [n for n, r in report["benchmarks"].items() if "error" in r]
    print(
        f"wrote {args.out / 'RESULTS.md'} and results.json in"
        f" {report['total_seconds'] / 60:.1f} min" + (f"; FAILED: {failed}" if failed else "")
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
