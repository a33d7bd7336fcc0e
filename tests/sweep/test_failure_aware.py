"""Failure-aware search: samplers learn that a failing region is bad, the study stays honest."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from helpers import load
from hydratune.attrs import FAIL_REASON, LOST
from hydratune.sweep.failure_aware import FailurePresenter, present_failures

SPACE = {"x": IntDistribution(-5, 4)}


def study_with(*outcomes: float | str) -> optuna.Study:
    """A study of one trial per outcome: a value, "fail" (its own failure) or "lost"."""
    study = optuna.create_study()
    for outcome in outcomes:
        trial = study.ask({"x": IntDistribution(0, 9)})
        if outcome == "lost":
            trial.set_user_attr(LOST, True)
        if isinstance(outcome, str):
            trial.set_user_attr(FAIL_REASON, outcome)
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, outcome)
    return study


def test_own_failures_are_shown_as_the_worst_complete_value_and_lost_ones_stay_hidden():
    study = study_with(3.0, "fail", 7.0, "lost")
    shown = present_failures(study.trials, study.directions)
    assert [(t.state, t.values) for t in shown] == [
        (TrialState.COMPLETE, [3.0]),
        (TrialState.COMPLETE, [7.0]),  # the worst value seen, for a minimized objective
        (TrialState.COMPLETE, [7.0]),
        (TrialState.FAIL, None),
    ]
    assert study.trials[1].state == TrialState.FAIL  # the study itself is unchanged


def test_a_failure_can_weigh_as_several_bad_trials():
    study = study_with(3.0, "fail", 7.0)
    shown = present_failures(study.trials, study.directions, weight=3)
    assert [t.number for t in shown] == [0, 1, 2, 1, 1]
    assert all(t.state == TrialState.COMPLETE for t in shown)


def test_the_worst_value_follows_the_direction():
    study = optuna.create_study(direction="maximize")
    for outcome in (3.0, 7.0):
        study.tell(study.ask({"x": IntDistribution(0, 9)}), outcome)
    failed = study.ask({"x": IntDistribution(0, 9)})
    study.tell(failed, state=TrialState.FAIL)
    assert present_failures(study.trials, study.directions)[-1].values == [3.0]


def test_presenting_a_growing_study_reads_what_a_first_reading_would():
    # the sampler's presenter folds each finished trial in once; a trial finished behind a
    # running one, and the running one failing later, must still count
    study = study_with(3.0, "fail")
    presenter = FailurePresenter(study.directions, weight=2)
    running = study.ask({"x": IntDistribution(0, 9)})
    study.tell(study.ask({"x": IntDistribution(0, 9)}), 9.0)
    shown = presenter.present(study.trials)
    assert [(t.number, t.values) for t in shown] == [
        (0, [3.0]),
        (1, [9.0]),
        (2, None),
        (3, [9.0]),
        (1, [9.0]),
    ]
    study.tell(running, state=TrialState.FAIL)
    for _ in range(2):  # and again, with nothing new
        shown = presenter.present(study.trials)
        assert [t.number for t in shown] == [0, 1, 2, 3, 1, 2]
        assert [t.values for t in shown] == [[3.0], *[[9.0]] * 5]


def nan_region(cfg):
    return math.nan if cfg.x > 1 else (cfg.x - 1) ** 2 + (cfg.y + 2) ** 2


SAMPLERS = {"tpe": optuna.samplers.TPESampler, "gp": optuna.samplers.GPSampler}


def plain_failures(sampler: str, seed: int, n: int) -> int:
    """Failures of the same sampler and seed in a plain Optuna loop, which ignores them."""
    study = optuna.create_study(sampler=SAMPLERS[sampler](seed=seed))
    for _ in range(n):
        trial = study.ask({"x": IntDistribution(-5, 4), "y": IntDistribution(-4, 4)})
        if trial.params["x"] > 1:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, (trial.params["x"] - 1) ** 2 + (trial.params["y"] + 2) ** 2)
    return len(study.get_trials(states=(TrialState.FAIL,)))


@pytest.mark.parametrize("sampler", ["tpe", pytest.param("gp", marks=pytest.mark.slow)])
def test_a_sweep_returns_less_often_to_a_region_that_always_fails(sweep, tmp_path, sampler):
    n = 25
    sweep(
        [
            f"hydra/sweeper/sampler={sampler}",
            "hydra.sweeper.sampler.seed=1",
            f"hydra.sweeper.n_trials={n}",
            "hydra.sweeper.max_failure_rate=1.0",
            "x=range(-5, 5)",
            "kind=b",
        ],
        task=nan_region,
    )
    trials = load("quadratic", tmp_path).trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(trials) == n and all("non-finite" in t.user_attrs[FAIL_REASON] for t in failed)
    assert len(failed) < plain_failures(sampler, seed=1, n=n)


class ReadingSampler(optuna.samplers.RandomSampler):
    """Records what each of a sampler's reads of the study returns (as TPE reads it)."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.reads: list[list] = []

    def sample_independent(self, study, trial, param_name, param_distribution):  # noqa: ANN001
        self.reads.append(study._get_trials(deepcopy=False, use_cache=True))
        return super().sample_independent(study, trial, param_name, param_distribution)


def test_the_sampler_sees_each_new_failure_and_one_presented_list_per_ask():
    from hydratune.sweep.failure_aware import FailureAwareSampler

    base = ReadingSampler()
    study = optuna.create_study(sampler=FailureAwareSampler(base))
    space = {"x": IntDistribution(0, 9), "y": IntDistribution(0, 9)}
    study.tell(study.ask(space), 3.0)
    study.tell(study.ask(space), state=TrialState.FAIL)
    study.ask(space)
    first, second = base.reads[-2:]  # the two parameters of the last ask
    assert first is second, "the trials are presented once per ask"
    assert [(t.number, t.state) for t in first] == [
        (0, TrialState.COMPLETE),
        (1, TrialState.COMPLETE),  # the failure, shown as the worst complete trial
        (2, TrialState.RUNNING),
    ]
    study.tell(2, state=TrialState.FAIL)
    study.ask(space)
    assert base.reads[-1] is not first and [t.state for t in base.reads[-1]][2] == (
        TrialState.COMPLETE
    ), "a failure told after the last ask is seen at the next"


def test_a_trial_failed_by_hand_is_shown_as_the_worst_of_the_others():
    study = study_with(1.0, 3.0, 7.0)  # trial 0, the best, was wrong (hydratune steer fail 0)
    shown = present_failures(study.trials, study.directions, failed_by_hand={0})
    assert [(t.number, t.values) for t in shown] == [(0, [7.0]), (1, [3.0]), (2, [7.0])]
    assert study.trials[0].values == [1.0]  # the study keeps what ran


def test_the_sampler_reads_the_trials_failed_by_hand_from_the_steering_record():
    from hydratune.steering import write_action
    from hydratune.sweep.failure_aware import FailureAwareSampler

    base = ReadingSampler()
    study = optuna.create_study(sampler=FailureAwareSampler(base))
    for value in (1.0, 3.0):
        study.tell(study.ask(SPACE), value)
    write_action(study, "fail", {"trial": 0, "reason": "a bad node"}, "fail #0: a bad node", 2)
    study.ask(SPACE)
    assert [t.values for t in base.reads[-1][:2]] == [[3.0], [3.0]]


def test_the_steering_record_is_read_once_per_asked_trial(monkeypatch):
    from hydratune.sweep import failure_aware
    from hydratune.sweep.failure_aware import FailureAwareSampler

    reads: list[int] = []
    read = failure_aware.steering.failed_by_hand
    monkeypatch.setattr(
        failure_aware.steering, "failed_by_hand", lambda study: reads.append(1) or read(study)
    )
    # past its start-up, TPE reads the trials once per parameter, each read a new list
    tpe = optuna.samplers.TPESampler(seed=0, n_startup_trials=1)
    study = optuna.create_study(sampler=FailureAwareSampler(tpe))
    space = {"x": IntDistribution(0, 9), "y": IntDistribution(0, 9), "z": IntDistribution(0, 9)}
    for value in (1.0, 3.0, 2.0, 4.0):
        study.tell(study.ask(space), value)
    assert len(reads) == 4, "one read of the steering record per trial"


def test_in_a_sweep_the_sampler_takes_the_trials_failed_by_hand_from_the_loops_reading(
    sweep, monkeypatch
):
    """The loop reads the steering record before every ask; the sampler uses that reading (no
    read of its own: one storage call a trial on a proxy) and sees a `steer fail` written while
    the sweep runs from the next trial on."""
    from helpers import quadratic
    from hydratune.optuna_classes import samplers_in
    from hydratune.steering import write_action
    from hydratune.sweep import failure_aware
    from hydratune.sweep.failure_aware import FailureAwareSampler
    from hydratune.training.current_trial import current_trial

    reads: list[int] = []
    read = failure_aware.steering.failed_by_hand
    monkeypatch.setattr(
        failure_aware.steering, "failed_by_hand", lambda study: reads.append(1) or read(study)
    )
    seen: dict[int, set[int]] = {}

    def task(cfg):  # noqa: ANN001, ANN202
        trial = current_trial()
        if trial.number == 2:  # as `hydratune steer <dir> fail 0` from another shell
            write_action(trial.study, "fail", {"trial": 0, "reason": "bad node"}, "fail #0", 2)
        sampler = next(
            s for s in samplers_in(trial.study.sampler) if isinstance(s, FailureAwareSampler)
        )
        seen[trial.number] = set(sampler._presenter.failed_by_hand)  # what it drew this one with
        return quadratic(cfg)

    sweep(
        [
            "hydra/sweeper/sampler=tpe",
            "hydra.sweeper.sampler.n_startup_trials=2",
            "hydra.sweeper.n_trials=5",
        ],
        task=task,
    )
    assert seen == {0: set(), 1: set(), 2: set(), 3: {0}, 4: {0}}
    assert reads == [], "the sampler read the steering record itself"
