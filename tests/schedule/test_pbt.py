"""Population based training on real checkpoints: exploit copies a top member's checkpoint
(weights, optimizer, random state) and its epoch, explore stays inside the space, and the
study records the lineage."""

from __future__ import annotations

import random

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from helpers import (
    COUNTING_EPOCHS,
    REPO,
    counting_epochs,
    load,
    multirun,
    run_steer,
    start_quadratic_app,
    wait_for_marker,
)
from hydratune.attrs import RESUMED_FROM, SEGMENT
from hydratune.schedule.pbt import _perturb
from hydratune.steering import Steerer
from hydratune.training.task import train

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

PBT = [
    "hydra/sweeper/scheduler=pbt",
    "hydra.sweeper.scheduler.population=4",
    "hydra.sweeper.scheduler.perturbation_interval=1",
    "hydra.sweeper.scheduler.seed=0",
    "hydra.sweeper.scheduler.keep_used=true",
    "trainer.max_epochs=3",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "hydra.sweeper.progress=false",
    "hydra.sweeper.report=false",
]


def sweep(*overrides: str) -> None:
    multirun(
        ["sweep=mlp_digits", *PBT, *overrides],
        task=train,
        config_name="train",
        config_dir=REPO / "conf",
    )


def member(trial) -> int:
    return trial.user_attrs[SEGMENT]["member"]


@pytest.mark.slow  # 12 Lightning trials
def test_an_exploit_continues_from_the_copied_epoch_with_the_sources_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep("hydra.sweeper.n_trials=12", "hydra.sweeper.scheduler.explore=[]")  # exploit only
    trials = load("mlp_digits", tmp_path).trials
    assert sorted(member(t) for t in trials[:4]) == [0, 1, 2, 3]
    exploits = [
        t
        for t in trials
        if RESUMED_FROM in t.user_attrs
        and member(trials[t.user_attrs[RESUMED_FROM]["trial"]]) != member(t)
    ]
    assert exploits, "no member copied another's checkpoint"
    compared = 0
    for exploit in exploits:
        resumed = exploit.user_attrs[RESUMED_FROM]
        source = trials[resumed["trial"]]
        assert exploit.params == source.params  # explore=[]: the source's values
        assert min(exploit.intermediate_values) == resumed["epoch"]  # the copied epoch on
        # the source's member continuing from the same checkpoint trains the same epoch alike:
        # weights, optimizer state and random state all came with the copy
        own = [
            t
            for t in trials
            if t.user_attrs.get(RESUMED_FROM, {}).get("trial") == source.number
            and member(t) == member(source)
        ]
        for twin in own:
            epoch = resumed["epoch"]
            assert exploit.intermediate_values[epoch] == twin.intermediate_values[epoch]
            compared += 1
    assert compared, "no exploit had a twin to compare with"


@pytest.mark.slow  # 6 Lightning trials
def test_a_population_that_has_trained_to_its_last_epoch_ends_the_sweep_saying_why(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.chdir(tmp_path)
    # 2 members x 3 epochs, one a run: at most 6 runs, fewer when an exploit jumps ahead
    sweep("hydra.sweeper.n_trials=10", "hydra.sweeper.scheduler.population=2")
    trials = load("mlp_digits", tmp_path).trials
    assert len(trials) <= 6
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert sum(t.state.name == "COMPLETE" for t in trials) == 2  # each member at its last epoch
    said = (
        f"no trial left to run after {len(trials)} of n_trials=10 trials: pbt: every member of "
        "the population has trained to its last epoch or cannot continue"
    )
    assert said in "".join(capfd.readouterr())  # the console's lines: Hydra's job logging
    # `steer show` says the same, and lists no paused run as one the schedule may continue
    # (a member that exploited another's checkpoint has left its own paused run behind)
    sweep_dir = tmp_path / "outputs" / "sweeps" / "mlp_digits"
    shown = run_steer(tmp_path, sweep_dir, "show").stdout
    assert "not running (pbt: every member of the population has trained" in shown
    assert "paused trials" not in shown
    more = run_steer(tmp_path, sweep_dir, "n_trials", "30").stdout
    assert "a larger n_trials runs nothing more" in more


def test_the_bottom_member_copies_the_best_one_still_training_when_a_better_one_has_finished(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    # members 0-3 at x = 1, -5, 0, 3: values 0 (best), 36 (worst), 1 and 4
    members = ", ".join(f"{{x: {x}, y: -2, kind: b}}" for x in (1, -5, 0, 3))
    multirun(
        [
            "hydra/sweeper/scheduler=pbt",
            "hydra.sweeper.scheduler.perturbation_interval=2",
            "hydra.sweeper.scheduler.explore=[]",
            *COUNTING_EPOCHS,
            "hydra.sweeper.n_trials=6",
            f"hydra.sweeper.enqueue=[{members}]",
        ],
        task=counting_epochs,
    )
    trials = load("quadratic", tmp_path).trials
    assert trials[4].state.name == "COMPLETE" and member(trials[4]) == 0  # to its last epoch
    # member 1, the worst, continues next: from member 2's checkpoint, the best one left
    assert member(trials[5]) == 1 and trials[5].user_attrs[RESUMED_FROM]["trial"] == 2
    # copied, #2 is still member 2's own paused run: shown as such, and a person may hold it
    steer = Steerer.load(str(tmp_path / "outputs" / "hydratune.journal"), "quadratic")
    assert [t.number for t in steer.show().paused] == [2, 3]
    steer.pause(2)


@pytest.mark.slow
def test_a_worker_with_nothing_left_while_another_process_trains_a_member_ends_saying_so(
    tmp_path, monkeypatch, capfd
):
    pbt = [
        "hydra/sweeper/scheduler=pbt",
        "hydra.sweeper.scheduler.population=2",
        "hydra.sweeper.scheduler.perturbation_interval=1",
        *COUNTING_EPOCHS,
        "hydra.sweeper.n_trials=10",
    ]
    other = start_quadratic_app(tmp_path, *pbt, hang_at=0)  # member #0 trains on in there
    try:
        wait_for_marker(tmp_path / "hanging", other)
        monkeypatch.chdir(tmp_path)
        multirun(pbt, task=counting_epochs)  # this worker: the other member, to its last epoch
        trials = load("quadratic", tmp_path).trials
        assert trials[0].state.name == "RUNNING" and trials[-1].state.name == "COMPLETE"
        said = (
            f"no trial left to run after {len(trials) - 1} of n_trials=10 trials: pbt: the "
            "members still training (#0) run in another process, which goes on with the "
            "population"
        )
        assert said in "".join(capfd.readouterr())
    finally:
        other.kill()
        other.wait()


@pytest.mark.slow  # 10 Lightning trials
def test_by_default_explore_changes_only_float_keys_so_the_copied_weights_still_load(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    sweep("hydra.sweeper.n_trials=10")  # sweep=mlp_digits searches hidden_dim, an int
    trials = load("mlp_digits", tmp_path).trials
    assert not [t.number for t in trials if t.state.name == "FAIL"]
    exploits = [
        t
        for t in trials
        if RESUMED_FROM in t.user_attrs
        and member(trials[t.user_attrs[RESUMED_FROM]["trial"]]) != member(t)
    ]
    assert exploits, "no member copied another's checkpoint"
    for exploit in exploits:
        source = trials[exploit.user_attrs[RESUMED_FROM]["trial"]]
        for name, dist in exploit.distributions.items():
            if not isinstance(dist, FloatDistribution):
                assert exploit.params[name] == source.params[name], name


def test_explore_perturbs_inside_the_declared_space():
    rng = random.Random(0)
    lr = FloatDistribution(1e-4, 1e-2, log=True)
    assert {_perturb(lr, 1e-3, rng) for _ in range(50)} == {0.8e-3, 1.2e-3}
    assert all(1e-4 <= _perturb(lr, 1e-2, rng) <= 1e-2 for _ in range(20))
    steps = IntDistribution(8, 64, step=8)
    assert {_perturb(steps, 32, rng) for _ in range(50)} <= {24, 40, 32}
    choice = CategoricalDistribution([16, 32, 64])
    assert {_perturb(choice, 16, rng) for _ in range(50)} == {16, 32}
