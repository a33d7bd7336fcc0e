"""Issue 24 (peers): Ray Tune's ASHA and PBT on the study's tasks, beside hydratune's schedules.

``bench.studies.schedules`` runs these contenders in its run, per seed, after hydratune's.
They train what hydratune's sweeps train: hydratune's training task (``train``: the task's
LightningModule, composed from the app's ``conf/`` with its overrides in ``bench.common.TASKS``:
the digits CNN or the synthetic MLP), the same search space (``CNN_SPACE``: lr log-uniform in
[1e-4, 3e-2], activation relu or tanh), ``seed`` and sampler seed, epochs per configuration, metric
(val/loss, minimised) and total epoch budget. A Ray trial runs ``train`` with a callback that
reports every validation epoch through ``tune.report`` and, for PBT every
``perturbation_interval`` epochs, a full Lightning checkpoint in a ``ray.tune.Checkpoint``; a
trial that continues from one (a PBT pause or exploit) passes it as ``ckpt_path``, so the same
``RandomState``/``ConfiguredOptimizer`` callbacks restore the random generators and apply the
explored lr. Ray Tune gets ``ray.init(num_cpus=2)`` on loopback and each trial asks for both
CPUs: one trial at a time, as hydratune's sweeps run (``n_jobs=1``).

- ASHA: ``ASHAScheduler(max_t=epochs, grace_period=min_resource, reduction_factor=eta)`` with
  Optuna's TPE (``OptunaSearch``, seeded as hydratune's sampler) proposing configurations.
  Ray's ASHA stops a trial at a rung or lets it run on; it never pauses one to continue later.
- PBT: ``PopulationBasedTraining`` with hydratune's population, ``perturbation_interval``,
  ``quantile_fraction`` and ``resample_probability``, mutating lr and activation (hydratune's
  ``explore``), ``synch=True`` (with one trial at a time, the asynchronous mode would train
  each member to its end before the next starts); the population is drawn at random, seeded.

Every reported epoch is counted in the order the driver receives it (continuations included,
a restore re-trains nothing); a ``Stopper`` ends the experiment once the budget is spent, and
the values past it are cut, as ``bench.studies.pruning.run_budgeted`` cuts a sweep's.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L

from bench.common import APP_CONF, REPO, TASKS, progress, quiet

METRIC = "val_loss"  # val/loss, under a name Ray does not split into nested keys
SOURCE = "source"  # checkpoint files: the id of the trial that wrote it
_KEPT = (METRIC, "epoch", "run", SOURCE)  # what the driver keeps of each reported epoch


# --- in the Ray trial's process -------------------------------------------------------------
class _TuneReport(L.Callback):
    """After each validation epoch: ``tune.report`` val/loss, with a Lightning checkpoint of
    the trainer every ``every`` epochs (0: never); the first report of a run says where it
    continued from."""

    def __init__(self, run: str, every: int, source: str | None) -> None:
        self.run, self.every, self.source = run, every, source

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        from ray import tune

        epoch = trainer.current_epoch + 1
        metrics = {
            METRIC: float(trainer.callback_metrics["val/loss"]),
            "epoch": epoch,
            "run": self.run,
            SOURCE: self.source or "",
        }
        self.source = None
        if not self.every or epoch % self.every:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as folder:
            trainer.save_checkpoint(Path(folder, "last.ckpt"))
            Path(folder, SOURCE).write_text(tune.get_context().get_trial_id())
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def trainable(config: dict[str, Any]) -> None:
    """One Ray trial: hydratune's training task on ``config``, from Ray's checkpoint if any."""
    import torch
    from hydra import compose, initialize_config_dir
    from ray import tune

    from hydratune.training.checkpoints import RandomState
    from hydratune.training.task import train

    torch.set_num_threads(1)
    overrides = [
        *(o for o in TASKS[config["task"]] if not o.startswith(("sweep=", "hydra."))),
        f"model.optimizer.lr={config['lr']}",
        f"model.activation={config['activation']}",
        f"seed={config['seed']}",
        f"trainer.max_epochs={config['epochs']}",
    ]
    run = uuid.uuid4().hex[:8]
    checkpoint = tune.get_checkpoint()
    with initialize_config_dir(config_dir=str(APP_CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    cfg.paths.root_dir = cfg.paths.output_dir = os.getcwd()  # the Ray trial's dir: no Hydra run
    if checkpoint is None:  # a fresh run: its checkpoints carry the random generators too
        report = _TuneReport(run, config["checkpoint"], source=None)
        train(cfg, callbacks=[report, RandomState()])
        return
    with checkpoint.as_directory() as folder:
        cfg.ckpt_path = str(Path(folder, "last.ckpt"))  # train() adds RandomState itself
        source = Path(folder, SOURCE).read_text()
        train(cfg, callbacks=[_TuneReport(run, config["checkpoint"], source)])


# --- in the driver --------------------------------------------------------------------------
def _ray_stopper() -> type:
    """The ``Ledger`` stopper class, made when a Ray contender runs (importing Ray takes
    seconds; the hydratune contenders never need it)."""
    from ray import tune

    class Ledger(tune.Stopper):
        """Every reported epoch in the order the driver got it; stops all once ``budget``
        epochs are in."""

        def __init__(self, budget: int) -> None:
            self.budget = budget
            self.results: list[dict[str, Any]] = []

        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            if METRIC in result:
                self.results.append({"trial": trial_id, **{k: result[k] for k in _KEPT}})
            return False

        def stop_all(self) -> bool:
            return len(self.results) >= self.budget

    return Ledger


def start_ray() -> float:
    """``ray.init`` on loopback with 2 CPUs, once per process; its seconds (0 if running).
    The trials' processes import ``bench`` and this hydratune, as the driver does."""
    import ray

    import hydratune

    if ray.is_initialized():
        return 0.0
    paths = [str(REPO), str(Path(hydratune.__file__).parents[1]), os.environ.get("PYTHONPATH")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    start = time.perf_counter()
    with quiet():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
        )
    return time.perf_counter() - start


def stop_ray() -> None:
    import ray

    ray.shutdown()


def contender(
    name: str, seed: int, budget: int, epochs: int, schedule: dict[str, Any], task: str
) -> dict:
    """One Ray Tune experiment (``ray_asha`` or ``ray_pbt``) on ``task`` (a key of ``TASKS``)
    stopped by its epoch budget, returned as ``run_budgeted`` returns a sweep: curve, full
    runs, runs, pruned, seconds. ``schedule``: hydratune's settings (eta, min_resource;
    population, perturbation_interval, quantile_fraction, resample_probability)."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining
    from ray.tune.search.basic_variant import BasicVariantGenerator
    from ray.tune.search.optuna import OptunaSearch

    start_ray()
    space = {
        "lr": tune.loguniform(1e-4, 3e-2),
        "activation": tune.choice(["relu", "tanh"]),
        "task": task,
        "seed": seed,
        "epochs": epochs,
        # PBT's exploits and pauses are at multiples of perturbation_interval: checkpoints there
        "checkpoint": schedule["perturbation_interval"] if name == "ray_pbt" else 0,
    }
    if name == "ray_asha":
        scheduler: Any = ASHAScheduler(
            time_attr="training_iteration",
            max_t=epochs,
            grace_period=schedule["min_resource"],
            reduction_factor=schedule["eta"],
        )
        search: Any = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed))
        samples = 10 * budget  # more than the budget allows: the Stopper ends the experiment
    else:
        scheduler = PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=schedule["perturbation_interval"],
            quantile_fraction=schedule["quantile_fraction"],
            resample_probability=schedule["resample_probability"],
            hyperparam_mutations={
                "lr": tune.loguniform(1e-4, 3e-2),
                "activation": ["relu", "tanh"],
            },
            synch=True,
        )
        search = BasicVariantGenerator(random_state=seed)
        samples = schedule["population"]
    ledger = _ray_stopper()(budget)
    with tempfile.TemporaryDirectory(prefix="hydratune-bench-ray-") as folder:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 2}),
            param_space=space,
            tune_config=tune.TuneConfig(
                metric=METRIC,
                mode="min",
                scheduler=scheduler,
                search_alg=search,
                num_samples=samples,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=f"{name}-{seed}-{task.replace(' ', '_')}",
                storage_path=folder,
                stop=ledger,
                verbose=0,
                failure_config=tune.FailureConfig(fail_fast=True),
                # all kept (at most 3 of 0.14 MB per member): PBT may exploit a member's
                # checkpoint after that member has written its next one
                checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
            ),
        )
        error = None
        clock = time.perf_counter()
        try:
            with quiet():
                grid = tuner.fit()
            error = str(grid.errors[0]) if grid.errors else None
        except Exception as raised:  # reported in the study's raw output, as a sweep's error
            error = f"{type(raised).__name__}: {raised}"
        seconds = time.perf_counter() - clock
    if error is not None:
        progress(f"schedules: {name} seed {seed} ended with {error[:300]}")
    return ledger_run(ledger.results, budget, epochs, seconds, error)


def ledger_run(
    results: Sequence[dict[str, Any]], budget: int, epochs: int, seconds: float, error: Any
) -> dict[str, Any]:
    """The shape of ``run_budgeted``'s record from the reported epochs: ``trials`` counts runs
    (a fresh trial or a continuation from a checkpoint), ``pruned`` the runs that ended before
    their last epoch other than the ones the budget cut, ``exploits`` the continuations from
    another trial's checkpoint."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for index, result in enumerate(results):
        runs.setdefault(result["run"], []).append({**result, "index": index})
    cut = {rows[-1]["run"] for rows in runs.values() if rows[-1]["index"] >= budget - 1}
    return {
        "seconds": seconds,
        "curve": [r[METRIC] for r in results][:budget],
        "full_runs": [
            [r[METRIC] for r in rows]
            for rows in runs.values()
            if [r["epoch"] for r in rows] == list(range(1, epochs + 1))
        ],
        "run_epochs": [[r["epoch"] for r in rows] for rows in runs.values()],
        "trials": len(runs),
        "pruned": sum(rows[-1]["epoch"] < epochs and run not in cut for run, rows in runs.items()),
        "exploits": sum(rows[0][SOURCE] not in ("", rows[0]["trial"]) for rows in runs.values()),
        "epochs": len(results),
        "error": None if error is None else str(error)[:300],
    }
