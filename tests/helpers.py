"""Shared test helpers: a synthetic objective (and one a schedule can pause and continue), a
real Hydra multirun in this process, a real Lightning sweep in seconds, the sweep's
trial-config factory, Ctrl-C for subprocess sweeps and waiting for their markers, and reading
back the study a sweep stored."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import chdir, contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import optuna
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import hydratune
from hydratune.execute.trial_config import TrialConfigFactory
from hydratune.space.grammar import make_parser

TEST_CONF = Path(__file__).parent / "conf"
APPS = Path(__file__).parent / "apps"
REPO = Path(__file__).parents[1]
# The app's own config writes the end-of-sweep report's PNG figures (report_png), which start a
# headless browser through kaleido: about 5 s a sweep. The report has its own tests
# (tests/insight/test_report.py); other sweeps in this process leave the PNGs out unless they
# set report_png themselves (tests/conf's apps turn the report off altogether).
NO_PNG = "hydra.sweeper.report_png=false"


def quadratic(cfg: DictConfig) -> float:
    """Known optimum 0 at x=1, y=-2, kind=b; ``fail_when_x_above`` makes chosen trials raise.

    With ``curve_steps`` > 0 it also reports a learning curve falling to that value, and stops
    when the sweep's pruner says so between two steps.
    """
    if cfg.fail_when_x_above is not None and cfg.x > cfg.fail_when_x_above:
        raise RuntimeError(f"x={cfg.x} is too large")
    value = float(cfg.shape.scale * (cfg.x - 1) ** 2 + (cfg.y + 2) ** 2 + (cfg.kind != "b"))
    for step in range(cfg.curve_steps):
        hydratune.report(value * (1 + 1 / (step + 1)), step)
        # asked between steps only: after the last one there is no work left to save
        if step < cfg.curve_steps - 1 and hydratune.should_prune():
            raise optuna.TrialPruned(f"step {step}")
    return value


def multirun(
    overrides: list[str],
    task: Callable[[DictConfig], Any] = quadratic,
    config_name: str = "quadratic",
    config_dir: Path = TEST_CONF,
) -> Any:
    """``app -m *overrides`` in this process, the way the command line runs it."""
    if config_dir == REPO / "conf" and not any("report_png" in o for o in overrides):
        overrides = [*overrides, NO_PNG]
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        hydra = GlobalHydra.instance().hydra
        try:
            return hydra.multirun(
                config_name=config_name,
                task_function=task,
                overrides=overrides,
                with_log_configuration=False,
            )
        finally:
            GlobalHydra.instance().clear()


def swept_study(cwd: Path, overrides: list[str], **kwargs: Any) -> optuna.Study:
    """The quadratic study ``multirun(overrides)`` leaves in ``cwd``: for a module-scoped
    fixture (the ``sweep`` fixture is per test) whose one sweep serves tests that only read it."""
    with chdir(cwd):
        multirun(overrides, **kwargs)
    return load("quadratic", cwd)


def load(study_name: str, cwd: Path) -> optuna.Study:
    """The study a sweep stored in the default journal file under ``cwd``."""
    from hydratune.storage import open_storage, storage_url

    return optuna.load_study(study_name=study_name, storage=open_storage(storage_url(None, cwd)))


# A real Lightning sweep in a second or two: 3 trials of 2 epochs of 3 batches.
TINY_SWEEP = [
    "sweep=mlp_digits",
    "hydra.sweeper.n_trials=3",
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
]


@contextmanager
def composed(
    config_dir: Path, config_name: str, command_line: Sequence[str] = ()
) -> Iterator[tuple[Any, Any, Any]]:
    """A factory for the app's sweep (``app -m *command_line``), with Hydra's loader and
    master config beside it."""
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        hydra = GlobalHydra.instance().hydra
        master = hydra.compose_config(config_name, list(command_line), run_mode=RunMode.MULTIRUN)
        loader = hydra.config_loader
        try:
            yield TrialConfigFactory(loader, master, make_parser(loader)), loader, master
        finally:
            GlobalHydra.instance().clear()


def wait_at_gate(gate: Path, number: int) -> None:
    """Hold trial ``number`` until the test writes ``go-<number>`` (or ``go-all``) in ``gate``.

    The trial first writes ``started-<number>`` (its process id), and while it waits it asks
    the sweep whether to stop (``hydratune.should_prune``), as a training loop does between
    epochs, so a trial held here can be pruned by hand.
    """
    (gate / f"started-{number}").write_text(str(os.getpid()))
    while not (gate / f"go-{number}").exists() and not (gate / "go-all").exists():
        if hydratune.should_prune():
            raise optuna.TrialPruned(f"held at the gate (trial {number})")
        time.sleep(0.02)  # polls the release file and the prune flag, the condition waited for


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` at the
    deadline."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return result


def run_steer(
    cwd: Path, *words: Any, file_size_limit: int | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``hydratune steer WORDS`` as a person types it in another shell (``env`` added to the
    environment; ``file_size_limit``: ``small_disk``), run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "hydratune", "steer", *map(str, words)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        **small_disk(file_size_limit, **env),
    )


def hydratune_here(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``hydratune *argv`` typed in ``cwd``, run by the console script's entry point
    (``hydratune.cli.main``) in this process: its argv parsing, exit status, stdout and stderr
    as a process of its own has them. A ``hydratune`` process imports Lightning first, about
    5 s of each command on two cores; here a test worker pays that once. Put back after: the
    working dir, ``sys.argv``, ``sys.path`` (the app adds its working dir) and the modules
    imported from the working dir (an init project's ``mymodels``)."""
    from hydratune import cli

    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_path, saved_modules = sys.argv, list(sys.path), set(sys.modules)
    sys.argv = ["hydratune", *argv]
    try:
        with chdir(cwd), redirect_stdout(out), redirect_stderr(err):
            cli.main()
        code = 0
    except SystemExit as exit:  # hydratune exits with a number, as typer and Hydra do
        code = exit.code or 0
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        for name in set(sys.modules) - saved_modules:
            if Path(getattr(sys.modules[name], "__file__", None) or "/").is_relative_to(cwd):
                del sys.modules[name]
    return subprocess.CompletedProcess(["hydratune", *argv], code, out.getvalue(), err.getvalue())


def broken_hook(cfg: DictConfig, trial: optuna.Trial) -> None:
    """A ``hydra.sweeper.custom_search_space`` hook with a bug: it raises once it has drawn."""
    trial.suggest_float("z", 0.0, 1.0)
    raise ValueError("the hook has a bug")


def prune_trial_1_by_hand(cfg: DictConfig, trial: optuna.Trial) -> None:
    """A ``hydra.sweeper.custom_search_space`` hook that steers as a person would: once trial 1
    is asked (running, its job not yet started), ask for it to be stopped by hand."""
    from hydratune.steering import Steerer

    if trial.number == 1:
        Steerer(trial.study).prune(1)


def default_sigint() -> None:
    """For ``preexec_fn``: Ctrl-C as a terminal gives it. A job started in the background by a
    shell (``cmd &``) inherits SIGINT ignored, and Python then keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sigint_to_group() -> None:
    """For ``preexec_fn``: a process group of its own (a signal to the group reaches the
    sweeper and its workers, not pytest), with SIGINT as a terminal gives it."""
    os.setsid()
    default_sigint()


def start_python(cwd: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python *argv`` in ``cwd`` as a user runs it, ``tests/apps`` importable: output as one
    text stream, Ctrl-C deliverable; ``env`` adds to this process's environment."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(APPS), full_env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, *argv],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_sigint,
    )


def small_disk(limit: int | None, **env: str) -> dict[str, Any]:
    """``subprocess`` arguments for a process whose every written file is capped at ``limit``
    bytes (RLIMIT_FSIZE: a write past it fails with EFBIG, as on a full disk; Python ignores
    SIGXFSZ), with ``env`` added to the environment. It writes no bytecode: cut short at the
    cap, a module's .pyc would break every later import of that module. None: no cap."""
    env = {**os.environ, **env}
    if limit is None:
        return {"env": env}

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return {"env": {**env, "PYTHONDONTWRITEBYTECODE": "1"}, "preexec_fn": cap}


def sweep_on_a_small_disk(
    cwd: Path, limit: int | None, *overrides: str
) -> subprocess.CompletedProcess[str]:
    """``python tests/apps/quadratic_app.py -m *overrides`` in ``cwd``, its files capped at
    ``limit`` bytes (``small_disk``), run to its end."""
    return subprocess.run(
        [sys.executable, str(APPS / "quadratic_app.py"), "-m", *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        **small_disk(limit),
    )


def start_quadratic_app(
    cwd: Path, *overrides: str, hang_at: int | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """``python tests/apps/quadratic_app.py -m *overrides`` in ``cwd`` (``start_python``).
    Trial ``hang_at`` writes its pid to ``cwd/hanging`` and hangs."""
    env = dict(env or {})
    if hang_at is not None:
        env.update(HANG_AT_TRIAL=str(hang_at), HANG_MARKER=str(cwd / "hanging"))
    return start_python(cwd, str(APPS / "quadratic_app.py"), "-m", *overrides, env=env)


def wait_for_marker(marker: Path, proc: subprocess.Popen, timeout: float = 120) -> int:
    """The pid a trial wrote into ``marker`` once it started; fails if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while not marker.exists() or not marker.read_text():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "the trial never started"
        time.sleep(0.05)  # polling for the marker, not waiting for a guessed duration
    return int(marker.read_text())


def run_bench(out: Path, *flags: str, timeout: int) -> dict[str, Any]:
    """``bench/run.py *flags --quick`` writing to ``out``; its results.json, once it exited 0
    with no benchmark in error."""
    import json
    import sys

    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), *flags, "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = json.loads((out / "results.json").read_text())
    for name, result in report["benchmarks"].items():
        assert "error" not in result, (name, result.get("output"))
    return report


def train_handing_trial_0s_promotion_to_the_other_worker(cfg: DictConfig) -> Any:
    """hydratune's training task, leaving its process id in the user attribute ``pid``, with
    the order of two worker processes pinned so that trial 0's promotion runs in the worker
    that did not train it: trial 1 returns only once trial 0 has paused (its worker, freed
    next, finds both at the rung), and a new configuration from trial 2 on starts only once
    a continuation exists (trial 0's own worker, freed first, cannot take it)."""
    from hydratune.attrs import RESUMED_FROM
    from hydratune.training.task import train

    trial = hydratune.current_trial()
    trial.set_user_attr("pid", os.getpid())
    trials = lambda: trial.study.get_trials(deepcopy=False)  # noqa: E731
    if trial.number >= 2 and not cfg.get("ckpt_path"):
        wait_for(lambda: any(RESUMED_FROM in t.user_attrs for t in trials()), "a continuation")
    result = train(cfg)
    if trial.number == 1:
        running = optuna.trial.TrialState.RUNNING
        wait_for(lambda: trials()[0].state != running, "trial 0 to pause")
    return result


def train_killed_in_its_first_continuation(cfg: DictConfig) -> Any:
    """hydratune's training task whose first run that continues from a checkpoint (the first
    with ``ckpt_path``) has its process killed (SIGKILL) after one epoch, before its pause."""
    import lightning as L

    from hydratune.training.task import train

    class KillAfterAnEpoch(L.Callback):
        def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            os.kill(os.getpid(), signal.SIGKILL)

    marker = Path("killed-once")  # in the sweep's working dir, shared by its workers
    if cfg.get("ckpt_path") and not marker.exists():
        marker.write_text(str(os.getpid()))
        return train(cfg, callbacks=[KillAfterAnEpoch()])
    return train(cfg)


# The quadratic app's keys for ``counting_epochs`` under a schedule: 4 epochs, the checkpoint keys.
COUNTING_EPOCHS = [
    "hydra.sweeper.scheduler.resource_key=epochs",
    "+epochs=4",
    "+ckpt_path=null",
    "+ckpt_save=null",
]


def counting_epochs(cfg: DictConfig) -> float:
    """The quadratic objective as a run of ``epochs`` epochs that a schedule pauses and continues,
    without torch: its checkpoint (a JSON file where ``ckpt_save`` says) holds the epochs
    trained and the Slurm job that trained them; given ``ckpt_path``, it trains on from there.
    Run it with ``COUNTING_EPOCHS``."""
    trial, job = hydratune.current_trial(), os.environ.get("SLURM_JOB_ID")
    trial.set_user_attr("slurm_job_env", job)
    start = 0
    if cfg.ckpt_path:
        state = json.loads(Path(cfg.ckpt_path).read_text())
        start = state["epoch"]
        trial.set_user_attr("continued_job", state["job"])
    value = quadratic(cfg)
    for epoch in range(start, cfg.epochs):
        trial.report(value * (1 + 1 / (epoch + 1)), epoch)
    if cfg.ckpt_save:
        path = Path(HydraConfig.get().runtime.output_dir, cfg.ckpt_save)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"epoch": cfg.epochs, "job": job}))
    return value * (1 + 1 / cfg.epochs)
