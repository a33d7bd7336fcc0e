"""Issue 8 (end to end): a hydratune sweep of the digits CNN vs the hand-written Optuna +
Lightning loop a user would otherwise write, and the sweeper's memory over many trials.

Both contenders run the same trials in this process, interleaved: TPE with the same seed over
the same distributions (the space hydratune built, read from its warm-up study; the suggested
parameters are checked to be identical), the same training seed, data module, model and
trainer flags, the same journal-file storage, val/loss reported every epoch (hydratune's
pruning callback does this in every sweep; the hand loop does it too). The hand loop stands for
"no framework": it builds hydratune's data module and model classes directly, with the model's
and optimizer's defaults read from ``conf/model/`` and no Hydra.

Memory: RSS of the sweeper's process before each of many tiny in-process trials (1 epoch of 2
batches); growth is measured from the end of a warm-up (the first tenth of the trials).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import lightning as L
import optuna
import torch
from omegaconf import OmegaConf
from optuna.storages.journal import JournalFileBackend, JournalStorage

from bench.common import (
    APP_CONF,
    Figure,
    cnn_sweep,
    columns,
    fresh_cwd,
    interleave,
    load_study,
    md_table,
    module_main,
    one_off_ms,
    per_trial_ms,
    pin_threads,
    profile,
    progress,
    quiet,
    ratios,
    record,
    target,
    timeline,
)
from bench.tasks import LOG, rss_train, timed_train
from hydratune.training.data import DigitsDataModule
from hydratune.training.models import CNNClassifier

TITLE = "End to end: hydratune vs a hand-written Optuna + Lightning loop; memory"
RATIO_TARGET, MEMORY_TARGET = 1.03, 0.10  # issue 22: <= 1.03x (it was 1.05)
SAMPLER_SEED, TRAIN_SEED = 1, 42  # sweep=mlp_digits's sampler seed, conf/train.yaml's seed


# Where a trial's time goes, in either loop (file suffix, function, label).
TRIAL_PLACES = [
    ("execute/job.py", "run_trial_job", "run_trial_job (the whole job, training included)"),
    ("execute/trial_config.py", "make", "TrialConfigFactory.make (job config)"),
    ("hydra/_internal/instantiate/_instantiate2.py", "instantiate", "hydra.utils.instantiate"),
    ("training/data.py", "__init__", "DigitsDataModule() (load and split)"),
    ("lightning/pytorch/trainer/trainer.py", "__init__", "Trainer()"),
    ("lightning/pytorch/trainer/trainer.py", "fit", "Trainer.fit"),
    ("training/pruning.py", "on_validation_end", "PruningCallback (report, should_prune)"),
    ("training/objective.py", "on_validation_end", "ObjectiveTracker"),
    ("bench/end_to_end.py", "on_validation_end", "the hand loop's reporting callback"),
    ("optuna/trial/_trial.py", "report", "Trial.report"),
    ("optuna/trial/_trial.py", "should_prune", "Trial.should_prune"),
    ("optuna/study/study.py", "ask", "Study.ask"),
    ("optuna/study/study.py", "tell", "Study.tell"),
    ("journal/_file.py", "append_logs", "journal file appends (all writes)"),
]


def where_time_goes(n: int, epochs: int, space: dict[str, Any]) -> list[list[str]]:
    """Both loops profiled on ``n`` trials: profiled ms per trial, side by side."""
    ours = {r["what"]: r for r in profile(lambda: hydratune_run(n, epochs), TRIAL_PLACES, n)}
    hand = {r["what"]: r for r in profile(lambda: hand_run(n, epochs, space), TRIAL_PLACES, n)}
    cell = lambda r: "-" if r is None else f"{r['profiled_ms_per_trial']:.1f}"  # noqa: E731
    return [
        [label, cell(ours.get(label)), cell(hand.get(label))]
        for _, _, label in TRIAL_PLACES
        if label in ours or label in hand
    ]


def _defaults(path: str) -> dict[str, Any]:
    """A model or optimizer config's plain values (what a hand-written loop would hard-code)."""
    values = OmegaConf.to_container(OmegaConf.load(APP_CONF / path))
    return {k: v for k, v in values.items() if not k.startswith("_") and k != "defaults"}


def hydratune_run(
    n_trials: int, epochs: int, time_report: bool = False, png: bool = True
) -> dict[str, Any]:
    """A sweep doing the hand loop's work: the trials and the results file, no report.

    ``time_report``: then time the end-of-sweep report (``hydra.sweeper.report``, on by default:
    HTML, Markdown and, with ``png``, PNG figures) on this sweep's study, as the sweeper would
    write it.
    """
    overrides = [
        f"hydra.sweeper.n_trials={n_trials}",
        f"trainer.max_epochs={epochs}",
        f"hydra.sweeper.sampler.seed={SAMPLER_SEED}",
        f"seed={TRAIN_SEED}",
    ]
    with fresh_cwd() as cwd:
        LOG.reset()
        run = cnn_sweep(overrides, timed_train).check()
        study = load_study(cwd)
        trials = study.trials
        report_s = _report_seconds(study, cwd, png) if time_report else None
    space = {
        k: optuna.distributions.distribution_to_json(d) for k, d in trials[0].distributions.items()
    }
    rows = timeline(trials, LOG.times)
    return record(run.start, run.end, rows, space=space, report_s=report_s)


def _report_seconds(study: optuna.Study, cwd: Path, png: bool) -> float:
    from hydratune.insight.report import write_report

    clock = time.perf_counter()
    write_report(study, cwd / "report", "journal", png=png)
    return time.perf_counter() - clock


class _ValLossReporter(L.Callback):
    """Reports val/loss to the trial every epoch and keeps the best (the hand loop's objective)."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial, self.best = trial, float("inf")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        loss = float(trainer.callback_metrics["val/loss"])
        self.trial.report(loss, trainer.current_epoch)
        self.best = min(self.best, loss)


def hand_trial(trial: optuna.Trial, epochs: int) -> float:
    """One trial the way a user writes it without hydratune (same settings as conf/)."""
    model_kw, optim_kw = _defaults("model/cnn.yaml"), _defaults("model/optimizer/adam.yaml")
    for key, value in trial.params.items():
        *path, name = key.split(".")
        {"model": model_kw, "model.optimizer": optim_kw}[".".join(path)][name] = value
    L.seed_everything(TRAIN_SEED, workers=True)
    data = DigitsDataModule(batch_size=64, val_fraction=0.2, seed=0)
    model = CNNClassifier(
        input_shape=list(data.input_shape),
        num_classes=data.num_classes,
        **model_kw,
        optimizer=functools.partial(torch.optim.Adam, **optim_kw),
    )
    reporter = _ValLossReporter(trial)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        min_epochs=1,
        log_every_n_steps=5,
        check_val_every_n_epoch=1,
        deterministic=True,
        logger=False,
        callbacks=[reporter],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=data)
    return reporter.best


def hand_run(n_trials: int, epochs: int, space: dict[str, Any]) -> dict[str, Any]:
    with fresh_cwd() as cwd, quiet():
        start = time.time()
        storage = JournalStorage(JournalFileBackend(str(cwd / "hand.journal")))
        study = optuna.create_study(
            storage=storage,
            study_name="hand",
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=SAMPLER_SEED),
        )
        times = {}
        for _ in range(n_trials):
            trial = study.ask(space)
            started = time.time()
            value = hand_trial(trial, epochs)
            times[trial.number] = {"started": started, "finished": time.time()}
            study.tell(trial, value)
        return record(start, time.time(), timeline(study.trials, times))


def memory_run(n_trials: int) -> dict[str, Any]:
    overrides = [
        f"hydra.sweeper.n_trials={n_trials}",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        "hydra/sweeper/sampler=random",
    ]
    with fresh_cwd():
        LOG.reset()
        seconds = cnn_sweep(overrides, rss_train).check().seconds
    rss = [mb for _, mb in sorted(LOG.rss)]
    warm = max(1, len(rss) // 10)
    after = rss[warm:]
    slope = _slope(after) * 100
    return {
        "seconds": seconds,
        "rss_mb": rss,
        "warm_up_trials": warm,
        "growth": rss[-1] / rss[warm] - 1,
        "peak_growth": max(after) / rss[warm] - 1,
        "mb_per_100_trials": slope,
    }


def _slope(values: list[float]) -> float:
    """Least-squares slope per index."""
    n = len(values)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(values) / n
    num = sum((i - mx) * (v - my) for i, v in enumerate(values))
    return num / sum((i - mx) ** 2 for i in range(n))


def outside_task_ms(rows: list[dict]) -> Figure:
    """Per trial, wall time not spent in the task: ask->start plus end->tell plus the loop."""
    rows = sorted(rows, key=lambda r: r["asked"])
    spans = [
        (b["asked"] - a["asked"]) - (a["finished"] - a["started"])
        for a, b in zip(rows, rows[1:], strict=False)
    ]
    return Figure.of([s * 1000 for s in spans])


def run(quick: bool) -> dict[str, Any]:
    threads = pin_threads(1)
    n_trials, epochs, reps = (3, 1, 1) if quick else (50, 10, 3)
    memory_trials = 10 if quick else 1000
    # Warm-up (Lightning's first fit in this process), and the space hydratune searches.
    first = hydratune_run(2, 1)["space"]
    space = {key: optuna.distributions.json_to_distribution(d) for key, d in first.items()}
    hand_run(2, 1, space)
    runs = interleave(
        {
            # --quick: the report without PNGs (their headless browser was 8 s of its 20 s)
            "hydratune": lambda: hydratune_run(n_trials, epochs, time_report=True, png=not quick),
            "hand-written loop": lambda: hand_run(n_trials, epochs, space),
        },
        reps,
        f"end to end {n_trials} trials",
    )
    ours, hand = runs["hydratune"], runs["hand-written loop"]
    wall_ratio = ratios([r["wall"] for r in ours], [r["wall"] for r in hand])
    report_s = Figure.of([r["report_s"] for r in ours])
    report_ratio = ratios([r["wall"] + r["report_s"] for r in ours], [r["wall"] for r in hand])
    loop_ratio = ratios(
        [per_trial_ms(r["rows"], n_trials) for r in ours],
        [per_trial_ms(r["rows"], n_trials) for r in hand],
    )
    same_params = all(
        [x["params"] for x in a["rows"]] == [x["params"] for x in b["rows"]]
        for a, b in zip(ours, hand, strict=True)
    )
    value_diff = max(
        abs(x["value"] - y["value"])
        for a, b in zip(ours, hand, strict=True)
        for x, y in zip(a["rows"], b["rows"], strict=True)
    )
    outside = {
        name: Figure.of([outside_task_ms(r["rows"]).median for r in rs])
        for name, rs in runs.items()
    }
    task = {
        name: Figure.of([(x["finished"] - x["started"]) * 1000 for r in rs for x in r["rows"]])
        for name, rs in runs.items()
    }
    one_off = {
        name: {k: Figure.of([one_off_ms(r)[k] / 1000 for r in rs]) for k in ("before", "after")}
        for name, rs in runs.items()
    }

    progress("end to end: profiling both loops")
    places = where_time_goes(3 if quick else 10, epochs, space)
    progress(f"end to end: memory over {memory_trials} tiny trials")
    memory = memory_run(memory_trials)

    ratio_met = wall_ratio.median <= RATIO_TARGET and same_params
    extra = outside["hydratune"].median - outside["hand-written loop"].median
    why_ratio = (
        ""
        if ratio_met
        else (
            ("suggested parameters differ; " if not same_params else "")
            + f"of hydratune's {Figure.of([r['wall'] for r in ours]).text(1)} s,"
            f" {one_off['hydratune']['after'].text(1)} s come after the last trial (results) and"
            f" {one_off['hydratune']['before'].text(1)} s before the first; the trial loop alone"
            f" is {loop_ratio.text(3, 'x')} the hand loop's: hydratune spends"
            f" {outside['hydratune'].text(0)} ms per trial outside the task against the hand"
            f" loop's {outside['hand-written loop'].text(0)} ms, {extra:.0f} ms more on a"
            f" {task['hand-written loop'].median:.0f} ms trial (Hydra's per-job set-up and files,"
            " config composition, storage writes: see the profile below)"
        )
    )
    mem_met = memory["growth"] < MEMORY_TARGET
    why_mem = (
        ""
        if mem_met
        else (f"RSS grows {memory['mb_per_100_trials']:.1f} MiB per 100 trials after warm-up")
    )
    rows = [
        [
            name,
            Figure.of([r["wall"] for r in rs]).text(1),
            one_off[name]["before"].text(2),
            one_off[name]["after"].text(2),
            outside[name].text(1),
            task[name].text(0),
        ]
        for name, rs in runs.items()
    ]
    md = [
        f"Threads: {threads}. Digits CNN, {epochs} epoch(s) per trial, {n_trials} trials, TPE"
        f" (seed {SAMPLER_SEED}), training seed {TRAIN_SEED}, journal-file storage for both,"
        f" {reps} interleaved repetition(s). Space: {', '.join(space)}."
        f" Suggested parameters identical: {same_params};"
        f" largest difference between the two loops' objective values: {value_diff:.2e}.",
        "",
        md_table(
            [
                "contender",
                "wall s",
                "s before first ask",
                "s after last tell",
                "ms per trial outside the task",
                "task ms per trial",
            ],
            rows,
        ),
        "",
        f"hydratune / hand-written, whole run doing the same work (the trials and the results"
        f" file; hydra.sweeper.report=false, as the hand loop writes no report):"
        f" {wall_ratio.text(3, 'x')}; the trial loop alone (first ask to last tell):"
        f" {loop_ratio.text(3, 'x')}. The end-of-sweep report that hydratune writes by default"
        f" (HTML, Markdown and PNG figures rendered by a headless Chromium"
        f"{'; --quick: no PNGs' if quick else ''}), timed on the same"
        f" studies: {report_s.text(2)} s, which would make the whole-run ratio"
        f" {report_ratio.text(3, 'x')}; `hydra.sweeper.report_png=false` keeps the HTML and"
        " Markdown and drops the browser start.",
        "",
        f"Where a trial's time goes: cProfile of {3 if quick else 10} trials of each loop"
        " (profiling inflates Python-heavy code; compare the columns):",
        "",
        md_table(["function", "hydratune ms/trial", "hand-written ms/trial"], places),
        "",
        f"Memory: {memory_trials} in-process trials (1 epoch, 2 train batches) in"
        f" {memory['seconds']:.0f} s. RSS after warm-up ({memory['warm_up_trials']} trials):"
        f" {memory['rss_mb'][memory['warm_up_trials']]:.0f} MiB; at the end:"
        f" {memory['rss_mb'][-1]:.0f} MiB (growth {memory['growth']:.1%}, peak"
        f" {memory['peak_growth']:.1%}, trend {memory['mb_per_100_trials']:.2f} MiB per 100"
        " trials).",
    ]
    return {
        "markdown": "\n".join(md),
        "targets": [
            target(
                "end to end",
                f"hydratune / hand-written <= {RATIO_TARGET}, same params (same work: no report)",
                f"{wall_ratio.text(3, 'x')} (trial loop alone {loop_ratio.text(3, 'x')})",
                ratio_met,
                why_ratio,
            ),
            target(
                "memory",
                f"RSS growth after warm-up < {MEMORY_TARGET:.0%}",
                f"{memory['growth']:.1%} over {memory_trials} trials",
                mem_met,
                why_mem,
            ),
        ],
        "raw": {
            "threads": threads,
            "wall_ratio": wall_ratio,
            "loop_ratio": loop_ratio,
            "report_s": report_s,
            "ratio_with_report": report_ratio,
            "same_params": same_params,
            "max_value_diff": value_diff,
            "runs": {k: [columns(r) for r in rs] for k, rs in runs.items()},
            "memory": memory,
            "profile": places,
        },
    }


if __name__ == "__main__":
    module_main(TITLE, run)
