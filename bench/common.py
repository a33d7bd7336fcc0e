"""What every benchmark shares: sweeps in this process, per-trial timelines, interleaved
repetitions, median/min/max figures, markdown tables and the module entry point.

Timing rules (``shared/BENCHMARKS.md``): every comparison runs its contenders interleaved
(A B A B ...) in one process and reports the median ratio with min and max; threads are pinned
(``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` set by ``bench/run.py`` before Python starts, and
``torch.set_num_threads`` here); per-trial timestamps are kept (asked, started, finished, told).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
APP_CONF = REPO / "conf"
BENCH_CONF = REPO / "bench" / "conf"
STUDY = "bench"  # the study_name of every sweep the benchmarks run in this process
CNN = [  # the digits CNN sweep of the pruning, parallel and end-to-end benchmarks
    "sweep=mlp_digits",
    "model=cnn",
    "callbacks=none",
    "logger=none",
    "objective.metric=val/loss",
    "objective.direction=minimize",
    "hydra.sweeper.params=null",
]
# Searched on top of what `model=cnn` brings itself (conf/search_space/model/cnn.yaml:
# channels, kernel_size, dropout).
CNN_SPACE = {
    "model.optimizer.lr": "tag(log,interval(1e-4,3e-2))",
    "model.activation": "choice(relu,tanh)",
}
# A harder task for the schedules study, searched over the same space (the MLP has an
# activation too): 4 classes of 6000 generated points (8 informative of 20 features, two
# clusters a class, 1% labels flipped); 9 epochs of the MLP reach 78-88% accuracy (best
# val/loss 0.33-0.61 over lr 1e-3 to 1e-2), where the digits CNN's best val/loss is 0.02-0.04.
SYNTHETIC_MLP = [
    "sweep=mlp_digits",
    "model=mlp",
    "data=synthetic",
    "data.n_samples=6000",
    "data.n_features=20",
    "data.n_informative=8",
    "data.n_classes=4",
    *CNN[2:],
]
TASKS = {"digits CNN": CNN, "synthetic MLP": SYNTHETIC_MLP}  # the schedules study's, by name

_T0 = time.monotonic()


def progress(message: str) -> None:
    """One line on stdout with the time since the module started, e.g. ``[  12.3s] ...``."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", flush=True)


# --- figures --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    """The median of repeated measurements, with their min and max."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Figure:
        finite = [v for v in values if v is not None]
        if not finite:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        return cls(statistics.median(finite), min(finite), max(finite), len(finite))

    def text(self, digits: int = 2, unit: str = "") -> str:
        """``1.23x (1.10-1.40)``; the range is left out when there is one measurement."""
        if self.n == 0:
            return "n/a"
        med = f"{self.median:.{digits}f}{unit}"
        if self.n == 1 or self.low == self.high:
            return med
        return f"{med} ({self.low:.{digits}f}-{self.high:.{digits}f})"

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n}


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Figure:
    """Pairwise ratios of interleaved repetitions (rep i of A over rep i of B)."""
    return Figure.of([a / b for a, b in zip(numerators, denominators, strict=True) if b])


def interleave(
    contenders: dict[str, Callable[[], Any]], reps: int, what: str = ""
) -> dict[str, list[Any]]:
    """Run the contenders A B C A B C ... ``reps`` times; each one's results in run order."""
    results: dict[str, list[Any]] = {name: [] for name in contenders}
    for rep in range(reps):
        for name, run in contenders.items():
            progress(f"{what} rep {rep + 1}/{reps}: {name}")
            results[name].append(run())
    return results


# --- threads, memory ------------------------------------------------------------------------
def pin_threads(n: int) -> str:
    """Pin torch's intra-op threads in this process and say how (for the report)."""
    import torch

    torch.set_num_threads(n)
    env = {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return (
        f"torch.set_num_threads({n}) (torch.get_num_threads()={torch.get_num_threads()}), "
        + ", ".join(f"{k}={v}" for k, v in env.items())
    )


def rss_mb() -> float:
    """This process's resident set size in MiB, from /proc/self/statm."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- sweeps in this process -----------------------------------------------------------------
def hydratune_sampler_kwargs(name: str) -> dict[str, Any]:
    """The arguments, besides the seed, that hydratune's ``hydra/sweeper/sampler=<name>`` gives
    Optuna's sampler, so a plain-Optuna twin runs the same algorithm: hydratune's ``tpe`` is
    hydra-optuna-sweeper's (independent, no constant liar), not Optuna 5's default TPE."""
    from omegaconf import OmegaConf

    from hydratune.optuna_classes import SAMPLERS, optuna_kwargs
    from hydratune.schema import SAMPLER_OPTIONS

    options = OmegaConf.structured(SAMPLER_OPTIONS[name])
    return optuna_kwargs(SAMPLERS[name], options, name)


@contextlib.contextmanager
def fresh_cwd() -> Iterator[Path]:
    """A new empty working directory for one sweep, so studies and outputs never mix."""
    old = Path.cwd()
    path = Path(tempfile.mkdtemp(prefix="hydratune-bench-"))
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)
        shutil.rmtree(path, ignore_errors=True)


SWEEP_LOG = Path(tempfile.gettempdir()) / "hydratune-bench-sweeps.log"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send what sweeps print (Hydra's job logging, Lightning's banners, worker processes,
    which inherit the file descriptors) to ``SWEEP_LOG`` instead of the progress output."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(SWEEP_LOG, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


@dataclass
class SweepRun:
    """One in-process sweep: wall seconds, epoch start and end, the error it raised if any."""

    seconds: float
    start: float
    end: float
    error: BaseException | None = None

    def check(self) -> SweepRun:
        if self.error is not None:
            raise self.error
        return self


def sweep(
    overrides: Sequence[str],
    task: Callable[[Any], Any],
    config_name: str,
    config_dir: Path = BENCH_CONF,
    report: bool = False,
) -> SweepRun:
    """``app -m *overrides`` with the hydratune sweeper in this process, as
    ``tests/conftest.py::multirun`` does.

    ``report=False`` turns off the end-of-sweep report (``hydra.sweeper.report``: HTML and PNG
    figures, seconds per sweep), a one-off cost that ``bench.end_to_end`` measures on its own.
    The best trial is never exported (``export_best`` would write into the repository's conf/).
    """
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from hydratune.schema import SweeperConf

    fields = SweeperConf.__dataclass_fields__
    off = [key for key in ("export_best", *(() if report else ("report",))) if key in fields]
    overrides = [*(f"hydra.sweeper.{key}=false" for key in off), *overrides]
    error = None
    start, clock = time.time(), time.perf_counter()
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        hydra = GlobalHydra.instance().hydra
        try:
            with quiet():
                hydra.multirun(
                    config_name=config_name,
                    task_function=task,
                    overrides=[f"hydra.sweeper.study_name={STUDY}", *overrides],
                    with_log_configuration=False,
                )
        except Exception as raised:  # a benchmark decides whether it expected this
            error = raised
        finally:
            GlobalHydra.instance().clear()
            _reset_logging()
    return SweepRun(time.perf_counter() - clock, start, time.time(), error)


def cnn_sweep(
    overrides: Sequence[str],
    task: Callable[[Any], Any],
    report: bool = False,
    base: Sequence[str] = CNN,
) -> SweepRun:
    """A sweep of the digits CNN (``CNN``, ``CNN_SPACE``) with the app's own ``conf/``; another
    ``base`` (``SYNTHETIC_MLP``) sweeps that task over the same space."""
    space = [f"{key}={expr}" for key, expr in CNN_SPACE.items()]
    return sweep([*base, *space, *overrides], task, "train", APP_CONF, report)


def _reset_logging() -> None:
    """Hydra's job logging reconfigures the root logger per job; put it back to quiet.

    Lightning's loggers print through handlers made at import, past ``quiet()``: silence them.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def load_study(cwd: Path, storage: str | None = None) -> Any:
    """The study an in-process sweep stored under ``cwd`` (default journal file or a path)."""
    import optuna

    from hydratune.storage import open_storage, storage_url

    return optuna.load_study(study_name=STUDY, storage=open_storage(storage_url(storage, cwd)))


# --- per-trial timelines --------------------------------------------------------------------
STAMP = "bench"  # user attribute: the task's own {started, finished, pid, threads}


def timeline(trials: Sequence[Any], extra: dict[int, dict[str, float]] | None = None) -> list:
    """Per trial of an Optuna study: asked/told (``datetime_start``/``datetime_complete``) and
    started/finished/pid/threads as the task recorded them (the ``STAMP`` user attribute, or
    ``extra`` by trial number)."""
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        row = {
            "number": t.number,
            "state": t.state.name,
            "asked": t.datetime_start.timestamp() if t.datetime_start else None,
            "told": t.datetime_complete.timestamp() if t.datetime_complete else None,
            "started": None,
            "finished": None,
            "pid": None,
            "threads": None,
            "params": t.params,
            "value": t.value if t.values and len(t.values) == 1 else t.values,
            "steps": len(t.intermediate_values),
        }
        row.update(t.user_attrs.get(STAMP, {}))
        row.update((extra or {}).get(t.number, {}))
        rows.append(row)
    return rows


TIMES = ("asked", "started", "finished", "told")


def columns(run: dict[str, Any]) -> dict[str, Any]:
    """A run's per-trial rows as columns for results.json: timestamps in ms since the first
    ask (``t0``, epoch seconds), so thousands of trials stay small."""
    rows = sorted(run["rows"], key=lambda r: r["number"])
    t0 = min(r["asked"] for r in rows)
    out: dict[str, Any] = {k: v for k, v in run.items() if k != "rows"}
    out["t0"] = t0
    out["number"] = [r["number"] for r in rows]
    for key in TIMES:
        out[f"{key}_ms"] = [
            None if r.get(key) is None else round((r[key] - t0) * 1000, 3) for r in rows
        ]
    for key in ("state", "pid", "threads"):
        if any(r.get(key) is not None for r in rows):
            out[key] = [r.get(key) for r in rows]
    return out


def record(start: float, end: float, rows: list[dict], **extra: Any) -> dict[str, Any]:
    """A run as the benchmarks keep it: epoch start and end, wall seconds, per-trial rows."""
    return {"start": start, "end": end, "wall": end - start, "rows": rows, **extra}


def one_off_ms(run: dict[str, Any]) -> dict[str, float]:
    """A run's one-off costs in ms, outside its first-ask-to-last-tell window: before the first
    ask (compose the config, open the study) and after the last tell (results, report)."""
    rows = run["rows"]
    return {
        "before": (min(r["asked"] for r in rows) - run["start"]) * 1000,
        "after": (run["end"] - max(r["told"] for r in rows)) * 1000,
    }


def per_trial_ms(rows: Sequence[dict], n: int) -> float:
    """Milliseconds per trial over the first ``n`` trials: from the first ask to the n-th tell.

    Setup before the first ask (composing the config, opening the study) is left out; report it
    separately. ``rows`` need ``asked`` and ``told``.
    """
    first = min(r["asked"] for r in rows)
    told = sorted(r["told"] for r in rows if r["told"] is not None)
    return (told[n - 1] - first) * 1000 / n


def gaps_ms(rows: Sequence[dict]) -> dict[str, Figure]:
    """Median (min-max) ms of each phase of a trial: ask->start, run, end->tell, tell->next ask."""
    rows = sorted(rows, key=lambda r: r["asked"])
    phases: dict[str, list[float]] = {
        "asked->started": [],
        "started->finished (task)": [],
        "finished->told": [],
        "told->next asked": [],
    }
    for row, nxt in zip(rows, [*rows[1:], None], strict=True):
        if row.get("started") is not None and row.get("finished") is not None:
            phases["asked->started"].append(row["started"] - row["asked"])
            phases["started->finished (task)"].append(row["finished"] - row["started"])
            phases["finished->told"].append(row["told"] - row["finished"])
        if nxt is not None:
            phases["told->next asked"].append(nxt["asked"] - row["told"])
    return {k: Figure.of([v * 1000 for v in vs]) for k, vs in phases.items() if vs}


# --- where the time goes ---------------------------------------------------------------------
def profile(run: Callable[[], Any], places: Sequence[tuple[str, str, str]], n: int) -> list:
    """cProfile ``run()`` (``n`` trials); per place: calls and cumulative ms per trial, and its
    share of the whole run. Profiling inflates Python-heavy code most: read the shares."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    run()
    profiler.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats  # (file, line, func) -> (cc, nc, tt, ct, callers)
    out = []
    for suffix, func, label in places:
        hits = [
            (nc, ct)
            for (file, _, name), (_, nc, _, ct, _) in stats.items()
            if name == func and file.endswith(suffix)
        ]
        if hits:
            calls, cum = sum(h[0] for h in hits), sum(h[1] for h in hits)
            out.append(
                {
                    "what": label,
                    "calls_per_trial": calls / n,
                    "share": cum / total,
                    "profiled_ms_per_trial": cum * 1000 / n,
                }
            )
    return out


def profile_table(rows: Sequence[dict]) -> str:
    return md_table(
        ["function", "calls/trial", "share of the run", "profiled ms/trial"],
        [
            [
                r["what"],
                f"{r['calls_per_trial']:.1f}",
                f"{r['share']:.0%}",
                f"{r['profiled_ms_per_trial']:.1f}",
            ]
            for r in rows
        ],
    )


# --- report pieces --------------------------------------------------------------------------
def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def target(name: str, goal: str, measured: str, met: bool | None, why: str = "") -> dict[str, Any]:
    """One row of the targets table; ``why`` is required (and measured) when ``met`` is False."""
    return {"name": name, "goal": goal, "measured": measured, "met": met, "why": why}


# --- entry point ----------------------------------------------------------------------------
def module_main(
    title: str,
    run: Callable[..., dict[str, Any]],
    sizes: Collection[str] = (),
    options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """``python -m bench.<name> [--quick] [--json PATH]``: run one benchmark, write its result.

    ``run(quick)`` returns ``{"markdown": ..., "targets": [...], "raw": {...}}``; a benchmark
    with ``sizes`` (its grids by name) also takes ``--full`` and ``--size NAME`` and is called
    ``run(size)``: "quick", "full", the named one, else "subset". ``options`` adds a
    benchmark's own arguments, passed to ``run`` by name (their defaults are what
    ``bench/run.py`` runs).
    """
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks it runs")
    if sizes:
        parser.add_argument("--full", action="store_true", help="the whole grid (hours)")
        parser.add_argument("--size", choices=list(sizes), default="subset", help="a grid by name")
    parser.add_argument("--json", type=Path, help="write the result here (default: stdout)")
    if options is not None:
        options(parser)
    args = parser.parse_args()
    own = {k: v for k, v in vars(args).items() if k not in ("quick", "full", "size", "json")}
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _reset_logging()
    start = time.monotonic()
    size = "quick" if args.quick else "full" if sizes and args.full else getattr(args, "size", "")
    result = {"title": title, **(run(size, **own) if sizes else run(args.quick, **own))}
    result["seconds"] = time.monotonic() - start
    progress(f"{title}: done in {result['seconds']:.0f}s")
    text = json.dumps(result, default=_json_default, indent=1)
    if args.json:
        args.json.write_text(text)
    else:
        sys.stdout.write(text + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Figure):
        return value.as_dict()
    if isinstance(value, Path):
        return str(value)
    return repr(value)
