"""``sampler: auto``: its rules, its switch by trial number, and sweeps that name no sampler
(the choice logged, recorded, kept on resume, reproducible with a seed)."""

from __future__ import annotations

import json
import logging
import threading

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from helpers import COUNTING_EPOCHS, counting_epochs, load
from hydratune.attrs import AUTO_SAMPLER
from hydratune.errors import StudyConfigError
from hydratune.insight.report.trials import header_rows
from hydratune.schema import parse_auto_choice
from hydratune.storage import open_storage, storage_url
from hydratune.sweep.auto import (
    GP_MAX_DIM,
    GP_STARTUP,
    GP_TRIALS,
    SwitchSampler,
    choose,
    record,
)

NUMERIC = {"x": FloatDistribution(-5, 5), "n": IntDistribution(1, 8)}
ONLY_X = ["~hydra.sweeper.params.y", "~hydra.sweeper.params.kind"]  # quadratic.yaml's x alone
FACTS = {"conditional": False, "n_trials": 50, "n_objectives": 1, "n_workers": 1}


def chosen(space=NUMERIC, pruning=False, **facts):
    return choose(space, pruning=pruning, **{**FACTS, **facts})


def test_numeric_spaces_get_gp_and_the_rest_tpe():
    assert chosen().sampler == "gp"
    assert chosen({**NUMERIC, "act": CategoricalDistribution(["relu", "tanh"])}).sampler == "tpe"
    assert chosen(conditional=True).options == {"group": True}
    assert chosen(n_objectives=2).sampler == "tpe"
    assert chosen(pruning=True).sampler == "tpe"
    assert chosen(scheduled=True).sampler == "tpe"  # a schedule's paused runs are pruned ones
    wide = {f"x{i}": FloatDistribution(0, 1) for i in range(GP_MAX_DIM + 1)}
    assert chosen(wide).sampler == "tpe"
    assert chosen(n_workers=4).sampler == "gp"  # GP conditions on the running trials


def test_gp_switches_to_tpe_at_a_trial_number_whatever_n_trials_said():
    for n_trials in (10, GP_TRIALS + 1):  # a short sweep may be resumed past the switch
        gp = chosen(n_trials=n_trials)
        assert (gp.sampler, gp.then, gp.switch_at) == ("gp", "tpe", GP_TRIALS)
        assert "tpe from trial" in gp.describe()


def test_the_switch_draws_each_trial_from_the_sampler_its_number_names():
    space = {"x": FloatDistribution(0, 1)}

    def draws(sampler, n):
        study = optuna.create_study(sampler=sampler)
        out = []
        for _ in range(n):
            trial = study.ask(space)
            study.tell(trial, trial.params["x"])
            out.append(trial.params["x"])
        return out

    switched = draws(
        SwitchSampler(optuna.samplers.RandomSampler(1), optuna.samplers.RandomSampler(2), 3), 6
    )
    assert switched[:3] == draws(optuna.samplers.RandomSampler(1), 3)
    assert switched[3:] == draws(optuna.samplers.RandomSampler(2), 3)


def test_a_sweep_that_names_no_sampler_logs_and_records_the_choice(sweep, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="hydratune.sweep.auto"):
        sweep(["hydra.sweeper.n_trials=2", *ONLY_X])
    recorded = json.loads(load("quadratic", tmp_path).user_attrs[AUTO_SAMPLER])
    assert recorded["sampler"] == "gp" and "1 numeric parameters" in recorded["reason"]
    assert recorded["options"] == {"n_startup_trials": 5}
    said = "sampler auto: gp, tpe from trial 100 (1 numeric parameters, 2 trials, 5 random to "
    assert said + "start), seed 0" in caplog.text


def test_a_seed_near_the_largest_numpy_takes_still_resumes(sweep, tmp_path):
    seed = f"hydra.sweeper.sampler.seed={2**32 - 1}"  # a resume shifts it by the trials run
    sweep(["hydra.sweeper.n_trials=2", *ONLY_X, seed])
    sweep(["hydra.sweeper.n_trials=4", *ONLY_X, seed])
    assert [t.state.name for t in load("quadratic", tmp_path).trials] == ["COMPLETE"] * 4


def test_a_sweep_with_a_schedule_gets_tpe_which_learns_from_its_paused_runs(sweep, tmp_path):
    asha = ["hydra/sweeper/scheduler=asha", *COUNTING_EPOCHS, "hydra.sweeper.n_trials=3"]
    sweep([*asha, *ONLY_X], task=counting_epochs)
    recorded = json.loads(load("quadratic", tmp_path).user_attrs[AUTO_SAMPLER])
    assert recorded["sampler"] == "tpe" and "a schedule pauses runs" in recorded["reason"]


def test_a_resume_keeps_the_recorded_choice(sweep, tmp_path, capsys):
    sweep(["hydra.sweeper.n_trials=2"])  # kind is a choice: tpe
    assert json.loads(load("quadratic", tmp_path).user_attrs[AUTO_SAMPLER])["sampler"] == "tpe"
    capsys.readouterr()
    sweep(["hydra.sweeper.n_trials=3", *ONLY_X])  # the rules alone would now choose gp
    out = capsys.readouterr().out  # the first sweep's job logging prints the second's log
    assert "sampler auto: tpe (categorical parameters (kind)), as recorded" in out
    assert len(load("quadratic", tmp_path).trials) == 3


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_workers_starting_a_study_together_run_the_choice_recorded_first(tmp_path, kind):
    """Workers with other ``n_trials`` choose differently; all must run the one a resume reads
    back, whichever of them records first."""
    name = "race.journal" if kind == "journal" else f"sqlite:///{tmp_path / 'race.db'}"
    url = storage_url(name, tmp_path)
    optuna.create_study(study_name="race", storage=open_storage(url))
    choices = [chosen(n_trials=n) for n in (10, 20, 30, GP_TRIALS + 1)]
    barrier = threading.Barrier(len(choices))
    in_force = []

    def worker(choice):
        study = optuna.load_study(study_name="race", storage=open_storage(url))
        barrier.wait()
        in_force.append(record(study, choice))

    threads = [threading.Thread(target=worker, args=(c,)) for c in choices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = optuna.load_study(study_name="race", storage=open_storage(url))
    assert len({c.describe() for c in choices}) == 4 and len(in_force) == 4
    assert in_force == [parse_auto_choice(stored.user_attrs[AUTO_SAMPLER])] * 4


def test_a_worker_that_finds_a_losers_record_last_runs_the_first_recorded(tmp_path):
    # the moment of a race on a journal: a loser's record is the last, until its writer
    # writes the winner's again; a worker starting then must run the winner's choice
    url = storage_url("race.journal", tmp_path)
    study = optuna.create_study(study_name="race", storage=open_storage(url))
    winner, loser, mine = (chosen(n_trials=n) for n in (10, 20, 30))
    study.set_user_attr(AUTO_SAMPLER, winner.to_json())
    study.set_user_attr(AUTO_SAMPLER, loser.to_json())
    assert record(study, mine) == winner
    assert resolve_recorded(url) == winner


def resolve_recorded(url: str):
    from hydratune.sweep.auto import recorded_choice

    return recorded_choice(open_storage(url), "race")


def test_auto_with_a_seed_draws_the_same_sweep_twice(sweep, tmp_path):
    for name in ("a", "b"):  # past GP's 5 random startup trials (2 parameters)
        sweep(["hydra.sweeper.n_trials=12", ONLY_X[1], f"hydra.sweeper.study_name={name}"])
    first, second = ([t.params for t in load(n, tmp_path).trials] for n in "ab")
    assert first == second


def test_an_option_under_auto_names_its_key_and_how_to_pin_a_sampler(sweep):
    with pytest.raises(StudyConfigError, match=r"hydra.sweeper.sampler.multivariate: .*tpe"):
        sweep(["hydra.sweeper.n_trials=1", "+hydra.sweeper.sampler.multivariate=true"])


def test_a_named_sampler_is_not_auto(sweep, tmp_path):
    sweep(["hydra/sweeper/sampler=tpe", "hydra.sweeper.n_trials=1"])
    assert AUTO_SAMPLER not in load("quadratic", tmp_path).user_attrs


def test_the_report_says_what_auto_chose(sweep, tmp_path):
    sweep(
        ["hydra.sweeper.n_trials=2", "hydra.sweeper.report=true", "hydra.sweeper.report_png=false"]
    )
    text = (tmp_path / "sweeps" / "quadratic" / "report" / "report.md").read_text()
    assert "auto: tpe (categorical parameters (kind))" in text


def test_small_integer_spaces_get_gp_as_other_numeric_spaces():
    small = {f"n{i}": IntDistribution(1, 8) for i in range(4)}
    assert chosen({**small, "x": FloatDistribution(0, 1)}).sampler == "gp"
    assert chosen({"k": IntDistribution(1, 25), "p": IntDistribution(1, 4)}).sampler == "gp"


def test_gp_starts_with_fewer_random_trials_in_few_dimensions():
    def startup(dimension):
        space = {f"x{i}": FloatDistribution(0, 1) for i in range(dimension)}
        return chosen(space).options.get("n_startup_trials", GP_STARTUP)

    assert [startup(d) for d in (1, 2, 3, 5)] == [5, 5, GP_STARTUP, GP_STARTUP]
    assert chosen({"x": FloatDistribution(0, 1)}, n_trials=GP_TRIALS + 1).options == {
        "n_startup_trials": 5
    }


UNREADABLE_HEADER = "auto: unreadable (auto_sampler attribute: "


@pytest.mark.parametrize(
    ("junk", "header"),
    [
        ("not json", UNREADABLE_HEADER),
        ("[1, 2]", UNREADABLE_HEADER),
        ('{"sampler": "bogus", "reason": "x"}', UNREADABLE_HEADER),
        ('{"sampler": "gp", "reason": "x", "extra": 1}', UNREADABLE_HEADER),
        # a readable record with options no sampler takes: the report shows what it says
        (
            '{"sampler": "gp", "reason": "x", "options": {"n_startup_trials": "lots"}}',
            "auto: gp (x)",
        ),
    ],
)
def test_a_recorded_choice_auto_cannot_run_is_refused_in_one_line_naming_the_attribute(
    sweep, tmp_path, junk, header
):
    journal = tmp_path / "outputs" / "hydratune.journal"
    journal.parent.mkdir()
    study = optuna.create_study(study_name="quadratic", storage=open_storage(str(journal)))
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    study.set_user_attr(AUTO_SAMPLER, junk)  # written by hand, or by another program
    before = journal.read_bytes()
    with pytest.raises(StudyConfigError, match="study 'quadratic': its auto_sampler attribute "):
        sweep(["hydra.sweeper.n_trials=3"])
    assert journal.read_bytes() == before
    # the report says so in its header, and goes on
    (sampler,) = [v for k, v in header_rows(study, study.trials, [], None) if k == "sampler"]
    assert sampler.startswith(header)
