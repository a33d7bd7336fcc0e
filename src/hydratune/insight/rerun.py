"""Retrain a sweep's top configurations with several seeds: is the winner's lead real?

A sweep ranks configurations by one training run each; seed noise can decide the ranking.
``rerun_top_trials`` takes the top K complete trials, runs each trial's saved
``.hydra/config.yaml`` again with ``seed`` = its own seed, +1, +2, ... (so the first run
reproduces the sweep's value), and reports the mean and standard deviation per configuration.

Runs are in this process, one after another, each with its own output directory and a plain
(non-sweep) Hydra context, so nothing is reported to the study.

Example::

    $ hydratune rerun outputs/sweeps/mlp_digits --top-k 3 --seeds 5
"""

from __future__ import annotations

import contextlib
import copy
import logging
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra.conf import HydraConf
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import setup_globals
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from optuna.trial import FrozenTrial

from hydratune.attrs import OVERRIDES
from hydratune.execute import raise_if_received
from hydratune.files import check_ours, write_atomically
from hydratune.insight.export import HYDRA_DIR, rerun_config
from hydratune.insight.report import markdown_table, rank_trials
from hydratune.schedule import scratch_overrides, values_changed

# Lightning's per-run banners (GPU/TPU available, tips, "Seed set") are INFO lines of these
# loggers: over 15 runs they were 124 lines around the command's one line per run.
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")
RESULTS_FILE = "rerun_results.yaml"
MARKDOWN_FILE = "rerun.md"
MARKDOWN_TITLE = "# Rerun of the top "  # then how many trials, of which study

Task = Callable[[DictConfig], Any]


@dataclass
class RerunResult:
    """One configuration's runs: the seeds, the values per seed (None: that run failed)."""

    trial: int
    sweep_values: list[float]
    overrides: list[str]
    seeds: list[int] = field(default_factory=list)
    values: list[list[float] | None] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # seed -> why that run failed
    # PBT changed the trial's values during training: what a rerun from scratch is not
    not_the_sweeps_run: str | None = None

    def per_objective(self) -> list[list[float]]:
        runs = [v for v in self.values if v is not None]
        return [list(column) for column in zip(*runs, strict=True)] if runs else []

    @property
    def mean(self) -> list[float]:
        return [statistics.fmean(c) for c in self.per_objective()]

    @property
    def std(self) -> list[float]:
        """Sample standard deviation (0 with a single run)."""
        return [statistics.stdev(c) if len(c) > 1 else 0.0 for c in self.per_objective()]

    def as_dict(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "sweep_value": self.sweep_values,
            "overrides": self.overrides,
            "seeds": self.seeds,
            "values": self.values,
            "mean": self.mean,
            "std": self.std,
            "failed": self.errors,
            **({"not_the_sweeps_run": self.not_the_sweeps_run} if self.not_the_sweeps_run else {}),
        }


def rerun_top_trials(
    study: optuna.Study,
    sweep_dir: Path,
    top_k: int,
    n_seeds: int,
    out_dir: Path,
    task: Task | None = None,
    on_run: Callable[[FrozenTrial, int, list[float] | None], None] | None = None,
) -> list[RerunResult]:
    """Run each of the ``top_k`` best complete trials with ``n_seeds`` seeds; write the results.

    ``task`` defaults to ``hydratune.training.task.train``. Writes ``rerun_results.yaml`` and
    ``rerun.md`` into ``out_dir`` and returns one ``RerunResult`` per trial, best first.
    """
    if top_k < 1 or n_seeds < 1:
        raise ValueError(f"top_k and seeds must be at least 1, got {top_k} and {n_seeds}")
    trials = rank_trials(study, study.get_trials(deepcopy=False))[:top_k]
    if not trials:
        raise ValueError(f"study '{study.study_name}' has no complete trial to rerun")
    _check_ours(Path(out_dir))  # before hours of training, not when writing their results
    saved = {trial.number: rerun_config(trial, sweep_dir) for trial in trials}
    if task is None:  # hydratune's task: each trial its own first, then Lightning's import
        for trial in trials:
            _check_own_task(trial, *saved[trial.number])
        from hydratune.training import train as task
    every = study.get_trials(deepcopy=False)
    results: list[RerunResult] = []
    try:
        with lightning_warnings_only():
            for trial in trials:
                _, config, hydra = saved[trial.number]
                results.append(_result_of(trial, values_changed(trial, every)))
                _rerun_trial(trial, results[-1], config, hydra, n_seeds, out_dir, task, on_run)
    except BaseException:  # Ctrl-C, SIGTERM: the runs that finished are kept
        if any(r.seeds for r in results):
            write_rerun_results(study, [r for r in results if r.seeds], Path(out_dir))
        raise
    write_rerun_results(study, results, Path(out_dir))
    return results


def _result_of(trial: FrozenTrial, not_the_sweeps_run: str | None) -> RerunResult:
    """A configuration's result, before its runs."""
    return RerunResult(
        trial=trial.number,
        sweep_values=list(trial.values),
        overrides=list(trial.user_attrs.get(OVERRIDES) or []),
        not_the_sweeps_run=not_the_sweeps_run,
    )


@contextlib.contextmanager
def lightning_warnings_only() -> Iterator[None]:
    """Lightning's INFO lines off while the runs go (the task's module is imported by now:
    importing Lightning resets them to INFO); its warnings still show."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.level, logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _check_own_task(
    trial: FrozenTrial, trial_dir: Path, config: DictConfig, hydra: DictConfig | None
) -> None:
    """ValueError, before any training, when the sweep ran another app's task (a
    lightning-hydra-template ``src/train.py``): hydratune's task cannot train its config
    (``rerun_config``'s), and the other app's task function is not ours to call."""
    if "objective" in config:  # what hydratune's task reads first
        return
    job = OmegaConf.select(hydra, "job.name") if hydra is not None else None
    # a schedule's run continued a checkpoint for some epochs: from scratch, to its last epoch
    scratch = "".join(f" {o}" for o in scratch_overrides(config, hydra))
    raise ValueError(
        f"trial #{trial.number} was trained by another app's task"
        f"{f' (job {job!r})' if job else ''}, and hydratune rerun trains with hydratune's own; "
        "run your app on the trial's saved config once per seed instead: "
        f"`python <your app> --config-path {trial_dir / HYDRA_DIR} --config-name config"
        f"{scratch} seed=<n>`"
    )


def _rerun_trial(
    trial: FrozenTrial,
    result: RerunResult,
    config: DictConfig,
    hydra: DictConfig | None,
    n_seeds: int,
    out_dir: Path,
    task: Task,
    on_run: Callable[[FrozenTrial, int, list[float] | None], None] | None,
) -> None:
    """Run one trial's saved config (``rerun_config``'s) once per seed, each run's values into
    ``result`` as it ends."""
    base_seed = int(config.get("seed") or 0)
    for seed in range(base_seed, base_seed + n_seeds):
        run_dir = Path(out_dir) / f"trial_{trial.number}" / f"seed_{seed}"
        try:
            config.seed = seed
            value = run_saved_config(config, hydra, run_dir, task)
            values = [float(v) for v in (value if isinstance(value, Sequence) else [value])]
        except Exception as error:  # one failed seed is a result, not the end of the rerun
            raise_if_received(error)  # Ctrl-C, whose KeyboardInterrupt an error replaced
            values = None
            result.errors[seed] = f"{type(error).__name__}: {error}"
        result.seeds.append(seed)
        result.values.append(values)
        if on_run is not None:
            on_run(trial, seed, values)


def run_saved_config(
    config: DictConfig, hydra: DictConfig | None, run_dir: Path, task: Task
) -> Any:
    """Run ``task`` on a job's saved config (``export.rerun_config``), the job's ``hydra`` node
    as the Hydra context (``${hydra:...}`` resolves), as a single run whose output directory
    is ``run_dir``. The task gets a copy: the next seed's run starts from the same config."""
    config = copy.deepcopy(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, run_dir / "config.yaml")
    with hydra_context(config, hydra, run_dir):
        return task(config)


@contextlib.contextmanager
def hydra_context(config: DictConfig, hydra: DictConfig | None, run_dir: Path) -> Iterator[None]:
    """``HydraConfig`` set as for a single run writing to ``run_dir``; restored afterwards.

    As Hydra's ``run_job`` does: the task gets ``config``; ``HydraConfig`` holds a copy with
    the ``hydra`` node, so ``${hydra:runtime.output_dir}`` in ``config`` resolves to ``run_dir``.
    """
    setup_globals()  # registers the ${hydra:...} resolver when no Hydra app has started
    full = OmegaConf.create({"hydra": OmegaConf.structured(HydraConf)})
    with open_dict(full.hydra):  # hydra.yaml has keys its groups add (hydra.env)
        full.hydra.merge_with(hydra or {})
    with read_write(full), open_dict(full), open_dict(full.hydra):
        full.hydra.mode = RunMode.RUN  # not a sweep: nothing reports to the study
        full.hydra.runtime.output_dir = str(Path(run_dir).resolve())
        full.hydra.run.dir = str(Path(run_dir).resolve())
        if not full.hydra.runtime.get("cwd"):
            full.hydra.runtime.cwd = str(Path.cwd())
        full.merge_with(config)
    instance = HydraConfig.instance()
    previous = instance.cfg
    instance.set_config(full)
    try:
        yield
    finally:
        instance.cfg = previous


def write_rerun_results(study: optuna.Study, results: list[RerunResult], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    content = {
        "study_name": study.study_name,
        "directions": [d.name.lower() for d in study.directions],
        "configurations": [r.as_dict() for r in results],
    }
    write_atomically(out_dir / RESULTS_FILE, yaml.safe_dump(content, sort_keys=False))
    write_atomically(out_dir / MARKDOWN_FILE, rerun_markdown(study, results))


def _check_ours(out_dir: Path) -> None:
    """A rerun replaces only an earlier rerun's results: a ``rerun.md`` of the user's is kept."""
    by = "hydratune rerun"
    instead = "Move it, or write the rerun elsewhere (hydratune rerun --out DIR)"
    check_ours(out_dir / RESULTS_FILE, _rerun_results, by, instead)
    check_ours(out_dir / MARKDOWN_FILE, lambda head: head.startswith(MARKDOWN_TITLE), by, instead)


def _rerun_results(head: str) -> bool:
    """Whether a YAML file starts as ``write_rerun_results`` writes one."""
    return head.startswith("study_name: ") and "\nconfigurations:" in head


def rerun_rows(results: list[RerunResult]) -> list[list[str]]:
    """Table rows: trial, sweep value, mean ± std, runs, overrides."""
    rows = []
    for r in results:
        spread = ", ".join(f"{m:.4g} ± {s:.2g}" for m, s in zip(r.mean, r.std, strict=True))
        spread = spread or "all failed"
        runs = f"{len(r.values) - len(r.errors)}/{len(r.values)}"
        sweep = ", ".join(f"{v:.4g}" for v in r.sweep_values)
        rows.append([f"#{r.trial}", sweep, spread, runs, " ".join(r.overrides)])
    return rows


RERUN_HEADER = ["trial", "sweep value", "mean ± std", "runs ok", "overrides"]


def rerun_markdown(study: optuna.Study, results: list[RerunResult]) -> str:
    lines = [
        f"{MARKDOWN_TITLE}{len(results)} trials of '{study.study_name}'",
        "",
        f"Seeds per configuration: {len(results[0].seeds) if results else 0} "
        "(the trial's own seed first). Standard deviation: sample (n-1).",
        "",
        markdown_table(RERUN_HEADER, rerun_rows(results)),
    ]
    notes = [r.not_the_sweeps_run for r in results if r.not_the_sweeps_run]
    if notes:
        lines += ["", *(f"Note: {n}." for n in notes)]
    failures = [(r.trial, s, e) for r in results for s, e in r.errors.items()]
    if failures:
        lines += ["", "Failed runs:", ""]
        lines += [f"- trial #{t}, seed {s}: {e}" for t, s, e in failures]
    return "\n".join(lines) + "\n"
