"""Steering a sweep: enqueued points run first and are not queued twice; experiments are read
back at the searched keys; warm starts copy only the trials that fit the space."""

from __future__ import annotations

import optuna
import pytest
from hydra import compose, initialize_config_dir
from optuna.trial import TrialState

from helpers import REPO, TEST_CONF, load
from hydratune.attrs import ENQUEUED_FROM, WARM_START_FROM
from hydratune.space.search_space import parse_search_space
from hydratune.storage import open_storage, storage_url
from hydratune.sweep.enqueue_warm_start import (
    SteeringError,
    enqueue_trials,
    open_warm_start,
    plan_enqueue,
    warm_start,
)

QUADRATIC = {"x": "interval(-5, 5)", "y": "range(-4, 5)", "kind": "choice(a, b)"}
MLP_DIGITS = {
    "model": "choice(mlp, cnn)",
    "model.hidden_dim": "choice(32, 64, 128, 256)",
    "model.n_layers": "range(1, 4)",
    "model.dropout": "interval(0.0, 0.5)",
    "model.optimizer.lr": "tag(log, interval(1e-4, 3e-2))",
    "model.optimizer.weight_decay": "tag(log, interval(1e-6, 1e-2))",
}


@pytest.fixture
def space():
    return parse_search_space(QUADRATIC, [])


@pytest.fixture
def study():
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))


def warm(study, space, url, name):
    """Warm-start ``study`` from ``name`` in ``url``, as a sweep does (source checked first)."""
    return warm_start(study, space, open_warm_start(url, name, study.directions))


def ask(study, space):
    return study.ask(dict(space.distributions))


def test_enqueued_points_are_asked_first_with_their_values(study, space):
    results = enqueue_trials(
        study, plan_enqueue(space, [{"x": 1.0, "y": -2, "kind": "b"}, {"x": 2.5}])
    )
    assert [r.enqueued for r in results] == [True, True]
    first, second, third = (ask(study, space) for _ in range(3))
    assert first.params == {"x": 1.0, "y": -2, "kind": "b"}
    assert second.params["x"] == 2.5 and set(second.params) == {"x", "y", "kind"}
    assert results[1].sampled == {"y": "not given", "kind": "not given"}
    assert ENQUEUED_FROM not in third.user_attrs  # the queue is used up: sampled again
    assert first.user_attrs[ENQUEUED_FROM] == "x=1.0, y=-2, kind=b"


def test_a_point_already_evaluated_or_queued_is_not_queued_again(study, space):
    point = {"x": 1, "y": -2, "kind": "b"}  # int 1 for a float parameter: the same point
    enqueue_trials(study, plan_enqueue(space, [point]))
    trial = ask(study, space)
    study.tell(trial, 0.0)
    again = enqueue_trials(study, plan_enqueue(space, [point, {"x": 3.0, "y": 0, "kind": "a"}] * 2))
    assert [r.enqueued for r in again] == [False, True, False, False]
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 1


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"kidn": "a"}, "'kidn' is not a searched parameter. Did you mean kind?"),
        ({"x": 7.5}, r"x=7.5: outside \[-5.0, 5.0\]"),
        ({"y": 1.5}, "y=1.5: expected an integer"),
        ({"y": 5}, r"outside \[-4, 4\]"),  # range(-4, 5) excludes 5
        ({"kind": "c"}, r"kind=c, not one of the choices \(a, b\)"),
        ({"x": "high"}, "expected a number"),
        (42, "expected a mapping of parameters or a list of overrides"),
    ],
)
def test_an_item_that_does_not_fit_fails_naming_it_and_nothing_is_queued(
    study, space, item, message
):
    with pytest.raises(SteeringError, match=message):
        enqueue_trials(study, plan_enqueue(space, [{"x": 0.0}, item]))
    assert study.trials == []


def repo_compose(overrides):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_an_experiment_is_composed_and_read_back_at_each_searched_key(study):
    space = parse_search_space(MLP_DIGITS, ["sweep=mlp_digits"])
    (result,) = enqueue_trials(
        study, plan_enqueue(space, [["experiment=mlp_digits"]], compose=repo_compose)
    )
    # conf/experiment/mlp_digits.yaml: model mlp, hidden_dim 128, 2 layers, dropout 0.1, lr 2e-3
    assert result.enqueued and result.source == "experiment=mlp_digits"
    assert result.params == {
        "model": "mlp",
        "model.hidden_dim": 128,
        "model.n_layers": 2,
        "model.dropout": 0.1,
        "model.optimizer.lr": 2e-3,
    }
    # Adam's weight_decay 0.0 is outside the log interval: the sampler picks it, and says why
    assert "outside" in result.sampled["model.optimizer.weight_decay"]
    trial = ask(study, space)
    assert trial.params["model.hidden_dim"] == 128
    assert 1e-6 <= trial.params["model.optimizer.weight_decay"] <= 1e-2


def test_group_choices_in_an_override_list_become_the_group_parameter(study):
    space = parse_search_space(MLP_DIGITS, [])
    (result,) = enqueue_trials(
        study, plan_enqueue(space, [["model=cnn", "model.optimizer.lr=0.01"]], compose=repo_compose)
    )
    assert result.params["model"] == "cnn" and result.params["model.optimizer.lr"] == 0.01
    assert "model.hidden_dim" in result.sampled  # the CNN has no hidden_dim


def test_an_override_list_that_does_not_compose_fails_naming_the_item(study):
    space = parse_search_space(MLP_DIGITS, [])
    with pytest.raises(SteeringError, match=r"enqueue\[0\]: cannot compose experiment=nope"):
        enqueue_trials(study, plan_enqueue(space, [["experiment=nope"]], compose=repo_compose))


# --- warm start ------------------------------------------------------------------------------


@pytest.fixture
def source(sweep, tmp_path):
    """A finished sweep 'quadratic' with complete and pruned trials over x, y, kind."""
    sweep(
        [
            "hydra.sweeper.n_trials=12",
            "curve_steps=3",
            "hydra/sweeper/pruner=median",
            "hydra.sweeper.pruner.n_startup_trials=2",
        ]
    )
    return load("quadratic", tmp_path), storage_url(None, tmp_path)


def new_study(tmp_path, name="warm"):
    storage = open_storage(storage_url(None, tmp_path))
    return optuna.create_study(study_name=name, storage=storage)


def test_warm_start_copies_the_trials_that_fit_and_says_why_it_skips_the_others(source, tmp_path):
    old, url = source
    space = parse_search_space({**QUADRATIC, "x": "interval(0, 5)"}, [])
    study = new_study(tmp_path)
    result = warm(study, space, url, "quadratic")

    finished = [t for t in old.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    fits = [t for t in finished if t.params["x"] >= 0]
    assert fits and len(fits) < len(finished)  # the premise: some fit, some do not
    assert result.copied == len(fits)
    assert sorted(n for n, _ in result.skipped) == [t.number for t in finished if t.params["x"] < 0]
    assert all("is outside [0.0, 5.0]" in why for _, why in result.skipped)
    copied = study.trials
    assert [t.user_attrs[WARM_START_FROM] for t in copied] == [
        f"quadratic#{t.number}" for t in fits
    ]
    for new, original in zip(copied, fits, strict=True):
        assert (new.state, new.values, new.params) == (
            original.state,
            original.values,
            original.params,
        )
        assert new.intermediate_values == original.intermediate_values
        assert new.distributions == space.distributions
    assert any(t.state == TrialState.PRUNED for t in copied)


def test_a_resumed_sweep_does_not_copy_the_same_trials_again(source, tmp_path):
    _, url = source
    space = parse_search_space(QUADRATIC, [])
    study = new_study(tmp_path)
    first = warm(study, space, url, "quadratic")
    second = warm(study, space, url, "quadratic")
    assert first.copied == 12 and second.copied == 0 and second.already_copied == 12
    assert len(study.trials) == 12


def test_trials_with_other_parameters_do_not_fit(source, tmp_path):
    _, url = source
    space = parse_search_space(
        {"x": QUADRATIC["x"], "kind": QUADRATIC["kind"], "z": "range(0, 3)"}, []
    )
    result = warm(new_study(tmp_path), space, url, "quadratic")
    assert result.copied == 0
    assert {why for _, why in result.skipped} == {
        "lacks z; has y, which this sweep does not search"
    }


def test_warm_start_from_a_study_with_other_directions_fails(source, tmp_path):
    _, url = source
    study = optuna.create_study(study_name="max", storage=open_storage(url), direction="maximize")
    with pytest.raises(
        SteeringError, match=r"directions \['minimize'\], this sweep \['maximize'\]"
    ):
        warm(study, parse_search_space(QUADRATIC, []), url, "quadratic")


def test_warm_start_from_a_missing_study_or_file_fails_naming_it(source, tmp_path):
    _, url = source
    space = parse_search_space(QUADRATIC, [])
    with pytest.raises(SteeringError, match="no study nope in"):
        warm(new_study(tmp_path), space, url, "nope")
    with pytest.raises(SteeringError, match="no storage file at"):
        warm(new_study(tmp_path, "other"), space, str(tmp_path / "missing.journal"), "x")
    assert not (tmp_path / "missing.journal").exists()


def test_warm_start_refuses_the_sweeps_own_study(source):
    old, url = source
    with pytest.raises(SteeringError, match="this sweep's own study"):
        warm(old, parse_search_space(QUADRATIC, []), url, "quadratic")


# --- conditional parameters and pairs (tests/conf/conditional.yaml) ---------------------------

WHEN = {"kind=b": {"x": "interval(0, 2)"}}
PAIRED = {"y_and_fixed": {"keys": ["y", "fixed"], "rows": [[-2, 1], [3, 7]]}}


@pytest.fixture
def conditional_space():
    return parse_search_space({"kind": "choice(a, b)"}, [], when=WHEN, paired=PAIRED)


def conditional_compose(overrides):
    with initialize_config_dir(config_dir=str(TEST_CONF), version_base="1.3"):
        return compose("conditional", overrides=list(overrides), return_hydra_config=True)


def test_a_pair_is_enqueued_by_its_row_and_a_condition_is_checked(study, conditional_space):
    (result,) = enqueue_trials(
        study, plan_enqueue(conditional_space, [{"kind": "b", "y_and_fixed": [3, 7]}])
    )
    assert result.params == {"kind": "b", "y_and_fixed": "3, 7"}
    with pytest.raises(SteeringError, match=r"x: searched only when kind is one of \['b'\]"):
        enqueue_trials(study, plan_enqueue(conditional_space, [{"kind": "a", "x": 1.0}]))


def test_an_override_list_reads_pairs_and_only_active_parameters(study, conditional_space):
    items = [["kind=a", "y=3", "fixed=7"], ["kind=b", "x=1.5"]]
    first, second = enqueue_trials(
        study, plan_enqueue(conditional_space, items, compose=conditional_compose)
    )
    assert first.params == {"kind": "a", "y_and_fixed": "3, 7"}  # x is inactive for kind=a
    # conditional.yaml's y=0, fixed=0 is no row of the pair: the sampler picks one
    assert second.params == {"kind": "b", "x": 1.5}
    assert "not one of the choices" in second.sampled["y_and_fixed"]


def test_warm_start_fits_conditional_trials_by_their_active_parameters(
    sweep, tmp_path, conditional_space
):
    sweep(["kind=choice(a, b)"], config_name="conditional")
    old = load("quadratic", tmp_path)
    url = storage_url(None, tmp_path)
    assert {"x" in t.params for t in old.trials} == {True, False}  # the premise
    same = warm(new_study(tmp_path), conditional_space, url, "quadratic")
    assert (same.copied, same.skipped) == (len(old.trials), [])
    # x searched always: the trials that lack it (kind=a) no longer fit
    flat = parse_search_space({"kind": "choice(a, b)", "x": "interval(0, 2)"}, [], paired=PAIRED)
    result = warm(new_study(tmp_path, "flat"), flat, url, "quadratic")
    lacking = [t.number for t in old.trials if "x" not in t.params]
    assert [n for n, _ in result.skipped] == lacking
    assert {why for _, why in result.skipped} == {"lacks x"}
