"""Trials as Slurm jobs through submitit, on a real single-node Slurm cluster."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from helpers import (
    COUNTING_EPOCHS,
    REPO,
    TINY_SWEEP,
    counting_epochs,
    load,
    multirun,
    quadratic,
    start_quadratic_app,
)
from hydratune.attrs import CHECKPOINT, LOST, RESUMED_FROM, RETRY_OF, SEGMENT

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

HERE = Path(__file__).parent
SLURM = [
    "hydra/launcher=submitit_slurm",
    "hydra.sweeper.n_jobs=2",
    "hydra.launcher.timeout_min=5",
    "hydra.launcher.cpus_per_task=1",
]


# jobs import this module and helpers.py as the test does (sbatch passes the environment on)
JOBS_PYTHONPATH = os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])


@pytest.fixture
def cluster(slurm_cluster, monkeypatch):
    """The session's cluster, its jobs importing what the test does."""
    monkeypatch.setenv("PYTHONPATH", JOBS_PYTHONPATH)
    return slurm_cluster


def in_slurm_job(cfg):
    """The quadratic objective, reporting the Slurm job it ran in and whether that job had
    loaded torch; trial 0 then imports torch and reports its threads."""
    import sys

    from helpers import quadratic
    from hydratune import current_trial

    trial = current_trial()
    trial.set_user_attr("slurm_job_env", os.environ.get("SLURM_JOB_ID"))
    trial.set_user_attr("setup_ran", os.environ.get("HYDRATUNE_SETUP_RAN"))
    trial.set_user_attr("torch_loaded", "torch" in sys.modules)
    if trial.number == 0:
        import torch

        trial.set_user_attr("torch_threads", torch.get_num_threads())
    return quadratic(cfg)


def test_every_trial_is_a_slurm_job(cluster, sweep, tmp_path, caplog):
    pruning = [
        "curve_steps=4",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
    ]
    resources = [  # as hydra-submitit-launcher users write them
        "hydra.launcher.mem_gb=1",
        "+hydra.launcher.additional_parameters={comment: hydratune-test}",
        "hydra.launcher.setup=['export HYDRATUNE_SETUP_RAN=yes']",
    ]
    caplog.set_level(logging.INFO, logger="hydratune")
    sweep([*SLURM, *resources, *pruning, "hydra.sweeper.n_trials=4"], task=in_slurm_job)
    trials = load("quadratic", tmp_path).trials
    assert len(trials) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    for trial in trials:
        job_id = trial.user_attrs["job_id"]
        assert trial.user_attrs["slurm_job_env"] == job_id  # it ran inside that Slurm job
        folder = tmp_path / "sweeps/quadratic" / str(trial.number) / ".submitit"
        assert (folder / f"{job_id}_0_log.out").is_file()
        script = (folder / f"{job_id}_submission.sh").read_text()
        lines = ("--cpus-per-task=1", "--time=5", "--mem=1GB", "--comment=hydratune-test")
        for line in (*lines, "--no-requeue"):  # the sweep retries lost trials, not Slurm
            assert f"#SBATCH {line}\n" in script
        assert trial.user_attrs["setup_ran"] == "yes"
        assert f"trial #{trial.number}: slurm job {job_id}" in caplog.text
        # a job imports no torch for a task without it (2-3 s), yet a trial that imports it
        # gets the job's cpus_per_task as its threads (torch's default: every core)
        assert trial.user_attrs["torch_loaded"] is False
    assert trials[0].user_attrs["torch_threads"] == 1
    # Slurm itself ran them: it knows each job, which ends (a job writes its result, then exits)
    ids = [t.user_attrs["job_id"] for t in trials]
    assert poll(lambda: set(slurm_states(ids).values()) == {"COMPLETED"}, 30)


def test_an_asha_promotion_is_a_slurm_job_of_its_own_continuing_from_the_checkpoint(
    cluster, sweep, tmp_path
):
    # rungs at 1, 2 and 4 epochs
    asha = ["hydra/sweeper/scheduler=asha", "hydra.sweeper.scheduler.eta=2", *COUNTING_EPOCHS]
    # two slots: once trials 0 and 1 have paused at rung 0, the better one is promoted
    sweep([*SLURM, *asha, "hydra.sweeper.n_trials=4"], task=counting_epochs)
    trials = load("quadratic", tmp_path).trials
    assert len(trials) == 4 and all(t.state.is_finished() for t in trials)
    continued = [t for t in trials if RESUMED_FROM in t.user_attrs]
    assert continued
    for trial in continued:
        source = trials[trial.user_attrs[RESUMED_FROM]["trial"]]
        epoch = trial.user_attrs[RESUMED_FROM]["epoch"]
        assert epoch == source.user_attrs[SEGMENT]["epochs"] == max(source.intermediate_values) + 1
        assert sorted(trial.intermediate_values) == list(range(epoch, 2 * epoch))
        # its own Slurm job, which read the checkpoint its source's job wrote
        assert trial.user_attrs["slurm_job_env"] == trial.user_attrs["job_id"]
        assert trial.user_attrs["continued_job"] == source.user_attrs["job_id"]
        assert trial.user_attrs["job_id"] != source.user_attrs["job_id"]
        assert not Path(source.user_attrs[CHECKPOINT]["path"]).exists()  # used up: deleted


def slurm_states(ids: list[str]) -> dict[str, str]:
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i %T", f"--jobs={','.join(ids)}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return dict(zip(out[::2], out[1::2], strict=True))


def poll(condition, seconds: float) -> bool:
    """Whether ``condition()`` holds within ``seconds`` (checked every 0.2 s)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


# --- failures, with the app in a subprocess (as a user runs it) ----------------------------


def start(
    cwd: Path, *overrides: str, hang_at: int | None = None, gate: Path | None = None
) -> subprocess.Popen:
    """The quadratic app's sweep with ``hydra/launcher=submitit_slurm`` in ``cwd``; trial
    ``hang_at`` hangs in its Slurm job; with ``gate``, every trial waits there until released
    (``helpers.wait_at_gate``)."""
    env = None if gate is None else {"GATE_DIR": str(gate)}
    return start_quadratic_app(
        cwd, *SLURM, "hydra.sweeper.n_trials=3", *overrides, hang_at=hang_at, env=env
    )


def hanging_job(cwd: Path, proc: subprocess.Popen, number: int) -> str:
    """The Slurm job id of trial ``number`` once its job hangs."""
    assert poll(lambda: (cwd / "hanging").exists() or proc.poll() is not None, 120)
    assert proc.poll() is None, proc.stdout.read()
    return load("quadratic", cwd).trials[number].user_attrs["job_id"]


# How Slurm ends a running job, and the state it then reports. The time limit is Slurm's own
# enforcement: the limit is cut to 0 while the job runs (limits are whole minutes), and
# slurmctld ends the job as TIMEOUT at its next time-limit check (every 30 s).
ENDINGS = {
    "TIMEOUT": lambda job_id: ["scontrol", "update", f"JobId={job_id}", "TimeLimit=0"],
    "CANCELLED": lambda job_id: ["scancel", job_id],
}


def test_a_job_slurm_ends_fails_its_trial_as_lost_and_it_is_retried(cluster, tmp_path):
    """Each way Slurm ends a job, in one sweep: trial 0's job out of time, trial 1's
    cancelled, both held at the gate until then (the time limit alone takes up to 30 s)."""
    gate = tmp_path / "gate"
    gate.mkdir()
    for number in range(2, 6):  # trial 2 and the retries run through
        (gate / f"go-{number}").touch()
    proc = start(tmp_path, gate=gate)

    def both_held() -> bool:
        assert proc.poll() is None, proc.stdout.read()
        return all((gate / f"started-{number}").exists() for number in range(len(ENDINGS)))

    assert poll(both_held, 120)
    trials = load("quadratic", tmp_path).trials
    job_ids = {ended: trials[n].user_attrs["job_id"] for n, ended in enumerate(ENDINGS)}
    for ended, job_id in job_ids.items():
        subprocess.run(ENDINGS[ended](job_id), check=True)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out  # lost trials are no failures of the run: retried

    trials = load("quadratic", tmp_path).trials
    for number, (ended, job_id) in enumerate(job_ids.items()):
        assert poll(lambda: slurm_states([job_id])[job_id] == ended, 30)  # noqa: B023
        lost = trials[number]
        assert lost.state == TrialState.FAIL and lost.user_attrs[LOST]
        assert f"job {job_id} ended ({ended})" in lost.user_attrs["fail_reason"]
        (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF) == number]
        assert retry.state == TrialState.COMPLETE and retry.params == lost.params
        assert retry.user_attrs["job_id"] != job_id
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 3


def test_a_node_failure_fails_its_jobs_trials_as_lost_and_they_are_retried(cluster, tmp_path):
    """The node goes down under the running jobs, submitted as the README's command does (no
    requeue by Slurm: the sweep retries). The test cluster's node comes back as soon as its
    slurmd registers again (``ReturnToService=2``)."""
    proc = start(tmp_path, hang_at=1)
    job_id = hanging_job(tmp_path, proc, 1)
    node = subprocess.run(
        ["squeue", "-h", "-o", "%N", f"--jobs={job_id}"], capture_output=True, text=True
    ).stdout.strip()
    try:
        down = ["scontrol", "update", f"NodeName={node}", "State=DOWN", "Reason=hydratune-test"]
        subprocess.run(down, check=True)
        out, _ = proc.communicate(timeout=120)
    finally:  # the node serves the session's other tests (an error if it is back already)
        subprocess.run(
            ["scontrol", "update", f"NodeName={node}", "State=RESUME"], capture_output=True
        )
    assert poll(lambda: node_state(node) in ("idle", "mixed", "allocated"), 30)
    assert proc.returncode == 0, out

    assert slurm_states([job_id])[job_id] == "NODE_FAIL"
    trials = load("quadratic", tmp_path).trials
    assert f"job {job_id} ended (NODE_FAIL)" in trials[1].user_attrs["fail_reason"]
    lost = [t for t in trials if t.state == TrialState.FAIL]  # every job the node ran then
    assert trials[1] in lost and all(t.user_attrs[LOST] for t in lost)
    retries = {t.user_attrs[RETRY_OF]: t for t in trials if RETRY_OF in t.user_attrs}
    assert sorted(retries) == [t.number for t in lost]
    for trial in lost:
        assert retries[trial.number].state == TrialState.COMPLETE
        assert retries[trial.number].params == trial.params
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 3


def node_state(node: str) -> str:
    out = subprocess.run(
        ["sinfo", "-h", "-N", "-n", node, "-o", "%T"], capture_output=True, text=True
    )
    return out.stdout.strip()


def test_ctrl_c_or_sigterm_cancels_the_sweeps_jobs_and_records_their_trials(cluster, tmp_path):
    """Ctrl-C to one sweep, SIGTERM to another, side by side: a cancelled job whose process
    ignores SIGTERM (submitit's handler) ends ~7 s later (KillWait, then slurmstepd's retries
    to the srun already gone), and the two jobs are waited for at once."""
    sweeps = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        (tmp_path / sig.name).mkdir()
        sweeps[sig] = start(tmp_path / sig.name, "hydra.sweeper.n_trials=4", hang_at=0)
    job_ids = {sig: hanging_job(tmp_path / sig.name, proc, 0) for sig, proc in sweeps.items()}
    for sig, proc in sweeps.items():
        proc.send_signal(sig)
    for sig, proc in sweeps.items():
        job_id = job_ids[sig]
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode != 0, sig.name
        assert f"trial #0: cancelled slurm job {job_id}" in out
        assert poll(lambda: slurm_states([job_id])[job_id] == "CANCELLED", 30)  # noqa: B023
        trial = load("quadratic", tmp_path / sig.name).trials[0]
        # failed once in a clean clone's CI (RUNNING after the cancel): the sweep's lines say why
        assert trial.state == TrialState.FAIL and trial.user_attrs[LOST], out[-4000:]
        assert "interrupted" in trial.user_attrs["fail_reason"]
        assert trial.user_attrs["job_id"] == job_id


def test_ctrl_c_while_a_job_is_submitted_cancels_that_job_too(cluster, tmp_path):
    """The interrupt lands while ``sbatch`` submits trial #0's job: the job is recorded on its
    trial and cancelled with the others, never left running unknown to the study."""
    shim = tmp_path / "bin" / "sbatch"  # the real sbatch; then Ctrl-C, before it answers
    shim.parent.mkdir()
    submitted, signalled = tmp_path / "submitted", tmp_path / "signalled"
    shim.write_text(
        f'#!/bin/sh\nout=$({shutil.which("sbatch")} "$@") || exit $?\necho "$out" >> {submitted}\n'
        f"[ -e {signalled} ] || {{ touch {signalled}; kill -INT $PPID; }}\n"
        'echo "$out"\n'
    )
    shim.chmod(0o755)
    env = {"PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}
    proc = start_quadratic_app(tmp_path, *SLURM, "hydra.sweeper.n_trials=3", hang_at=0, env=env)
    out, _ = proc.communicate(timeout=120)
    job_ids = re.findall(r"job (\d+)", submitted.read_text() if submitted.exists() else "")
    try:
        assert job_ids, out  # the sweep submitted trial #0's job before the interrupt
        assert proc.returncode == 130, out
        assert poll(lambda: set(slurm_states(job_ids).values()) == {"CANCELLED"}, 30), out
        trial = load("quadratic", tmp_path).trials[0]
        assert trial.state == TrialState.FAIL and trial.user_attrs[LOST], out[-4000:]
        assert trial.user_attrs["job_id"] == job_ids[0]
    finally:  # a job left running would hold the session's cluster
        subprocess.run(["scancel", *job_ids])


@pytest.fixture(scope="module")
def dead_sweep(slurm_cluster, tmp_path_factory) -> SimpleNamespace:
    """A sweep killed while two trials' jobs run, then run again: trial 1 still held in its
    job (an orphan), trial 2's job let finish meanwhile. One killed sweep and one rerun serve
    the two tests below. Gives the rerun's output, the two jobs' ids and the working dir."""
    cwd = tmp_path_factory.mktemp("dead_sweep")
    gate = cwd / "gate"
    gate.mkdir()
    for number in (0, 3):  # trial 0 and trial 1's retry run through
        (gate / f"go-{number}").touch()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", JOBS_PYTHONPATH)
        proc = start(cwd, gate=gate)

        def both_held() -> bool:
            assert proc.poll() is None, proc.stdout.read()
            if not (gate / "started-2").exists():
                return False
            states = [t.state for t in load("quadratic", cwd).trials]
            return states == [TrialState.COMPLETE, TrialState.RUNNING, TrialState.RUNNING]

        assert poll(both_held, 120)
        trials = load("quadratic", cwd).trials
        orphan, finished = (trials[number].user_attrs["job_id"] for number in (1, 2))
        proc.kill()  # the sweeper dies; its Slurm jobs live on
        proc.wait()
        assert slurm_states([orphan, finished]) == {orphan: "RUNNING", finished: "RUNNING"}
        (gate / "go-2").touch()  # trial 2's job finishes with no sweep to see it
        assert poll(lambda: slurm_states([finished])[finished] == "COMPLETED", 60)
        assert load("quadratic", cwd).trials[2].state == TrialState.RUNNING

        out, _ = start(cwd, gate=gate).communicate(timeout=180)
    return SimpleNamespace(cwd=cwd, out=out, orphan=orphan, finished=finished)


def test_a_rerun_after_the_sweep_died_cancels_its_orphaned_job_and_retries(dead_sweep):
    job_id = dead_sweep.orphan
    assert f"trial #1: cancelled slurm job {job_id} of a dead sweep" in dead_sweep.out
    assert poll(lambda: slurm_states([job_id])[job_id] == "CANCELLED", 30)
    trials = load("quadratic", dead_sweep.cwd).trials
    assert trials[1].state == TrialState.FAIL and trials[1].user_attrs[LOST]
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF) == 1]
    assert retry.state == TrialState.COMPLETE
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 3


def test_a_rerun_records_the_result_of_a_job_that_finished_while_the_sweep_was_dead(dead_sweep):
    job_id = dead_sweep.finished
    assert f"trial #2: slurm job {job_id} had ended; its result is told" in dead_sweep.out
    trials = load("quadratic", dead_sweep.cwd).trials
    told = trials[2]
    assert told.state == TrialState.COMPLETE and told.user_attrs["job_id"] == job_id
    assert [t.user_attrs.get(RETRY_OF) for t in trials[3:]] == [1]  # trial 2 not run again
    objective = {"shape": {"scale": 1.0}, "fail_when_x_above": None, "curve_steps": 0}
    assert told.value == quadratic(OmegaConf.create({**objective, **told.params}))


def test_a_ddp_trial_runs_as_one_slurm_job_of_two_tasks(cluster, tmp_path, monkeypatch):
    """``tasks_per_node=2``: srun starts one rank per task; Lightning reads them from Slurm."""
    from hydratune.training.task import train

    monkeypatch.chdir(tmp_path)
    multirun(
        [
            *TINY_SWEEP,
            "hydra/launcher=submitit_slurm",
            "hydra.sweeper.n_trials=1",
            "hydra.launcher.tasks_per_node=2",
            "hydra.launcher.cpus_per_task=1",
            "+trainer.strategy=ddp",
            "trainer.devices=2",
            "trainer.accelerator=cpu",
        ],
        task=train,
        config_name="train",
        config_dir=REPO / "conf",
    )
    (trial,) = load("mlp_digits", tmp_path).trials
    assert trial.state == TrialState.COMPLETE, trial.user_attrs.get("fail_reason")
    assert sorted(trial.intermediate_values) == [0, 1]
    assert trial.value == max(trial.intermediate_values.values())
    folder = Path(trial.user_attrs["job_folder"])
    job_id = trial.user_attrs["job_id"]
    assert {p.name for p in folder.glob(f"{job_id}_*_result.pkl")} == {
        f"{job_id}_0_result.pkl",
        f"{job_id}_1_result.pkl",
    }


def test_a_job_slurm_refuses_stops_the_sweep_and_the_rerun_runs_its_trials_first(
    cluster, sweep, tmp_path
):
    from hydratune.steering import finished_count
    from hydratune.sweep.sweeper import SweepFailedError

    with pytest.raises(SweepFailedError, match="submitting the slurm job failed.*partition"):
        sweep([*SLURM, "hydra.launcher.partition=nosuch", "hydra.sweeper.n_trials=2"])
    trials = load("quadratic", tmp_path).trials
    # the two slots' trials were submitted before the first refusal was told; no more ran.
    # They never started: lost, not failed, so they do not count toward n_trials
    refused = [t for t in trials if t.state == TrialState.FAIL]
    assert len(refused) == 2 and all(t.user_attrs[LOST] for t in refused)
    assert finished_count(trials) == 0
    sweep([*SLURM, "hydra.sweeper.n_trials=2"])  # the partition fixed: the same sweep again
    trials = load("quadratic", tmp_path).trials
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    retried = {t.user_attrs[RETRY_OF]: t.params for t in done}
    assert retried == {t.number: t.params for t in refused}
