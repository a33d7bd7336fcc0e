"""Memory across studies: warm_start's transfer runs related studies' best configurations
first, alternating with the sweep's own trials, and falls back when they do worse here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from helpers import load
from hydratune.attrs import TRANSFER, TRANSFERRED_FROM
from hydratune.errors import ConfigError
from hydratune.space import parse_search_space
from hydratune.storage import open_storage
from hydratune.sweep.transfer import plan_transfer


def far(cfg):
    """The quadratic's opposite: its best configurations are poor for the quadratic."""
    return float((cfg.x + 4) ** 2 + (cfg.y - 4) ** 2 + (cfg.kind != "a"))


def source(sweep, name, task=None, *extra):
    kwargs = {"task": task} if task else {}
    sweep([f"hydra.sweeper.study_name={name}", "hydra.sweeper.n_trials=12", *extra], **kwargs)


def transferred(study):
    return [
        (t.number, t.user_attrs[TRANSFERRED_FROM])
        for t in study.trials
        if TRANSFERRED_FROM in t.user_attrs
    ]


def test_related_studies_best_configurations_run_first_alternating_with_own_trials(sweep, tmp_path):
    source(sweep, "src")
    source(sweep, "other_params", None, "hydra.sweeper.params.kind=a")  # searches x, y only
    src = load("src", tmp_path)
    best = sorted((t for t in src.trials), key=lambda t: t.value)
    sweep(
        [
            "hydra.sweeper.study_name=dst",
            "hydra.sweeper.n_trials=10",
            "hydra.sweeper.warm_start={studies:related,transfer:seed,max_trials:3}",
        ]
    )
    study = load("dst", tmp_path)
    assert transferred(study) == [
        (0, f"src#{best[0].number}"),
        (2, f"src#{best[1].number}"),
        (4, f"src#{best[2].number}"),
    ]
    assert study.trials[0].params == best[0].params and study.trials[0].value == best[0].value
    record = study.user_attrs[TRANSFER]
    assert (record["mode"], record["sources"], record["fallback"]) == ("seed", ["src"], None)
    assert len(study.trials) == 10  # transferred trials count toward n_trials


def test_unrelated_sources_are_dropped_after_two_trials_and_the_sweep_says_so(
    sweep, tmp_path, capfd
):
    source(sweep, "far", far)
    sweep(
        [
            "hydra.sweeper.study_name=dst",
            "hydra.sweeper.n_trials=10",
            "hydra.sweeper.warm_start={studies:[far],transfer:seed,max_trials:4}",
        ]
    )
    study = load("dst", tmp_path)
    assert [n for n, _ in transferred(study)] == [0, 2]  # 2 of the 4 allowed, then own search
    fallback = study.user_attrs[TRANSFER]["fallback"]
    assert fallback.startswith("the 2 transferred configuration(s) do worse here than")
    assert fallback.endswith("own search from trial #4")
    assert f"[WARNING] - warm_start: {fallback}" in capfd.readouterr().out


def test_a_box_transfer_draws_inside_the_sources_best_quarter(sweep, tmp_path):
    source(sweep, "src")
    src = sorted(load("src", tmp_path).trials, key=lambda t: t.value)[:3]
    sweep(
        [
            "hydra.sweeper.study_name=dst",
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.warm_start={studies:related,transfer:box,max_trials:3}",
        ]
    )
    study = load("dst", tmp_path)
    box = [study.trials[n] for n, _ in transferred(study)]
    assert len(box) == 3
    for trial in box:
        assert (
            min(t.params["x"] for t in src) <= trial.params["x"] <= max(t.params["x"] for t in src)
        )
        assert trial.params["kind"] in {t.params["kind"] for t in src}


def test_a_study_of_the_same_name_in_another_storage_is_a_source(sweep, tmp_path):
    """Another storage's ``dst`` is another study: a source, though this sweep is ``dst`` too."""
    other = tmp_path / "other.journal"
    source(sweep, "dst", None, f"hydra.sweeper.storage={other}")
    best = min(
        optuna.load_study(study_name="dst", storage=open_storage(str(other))).trials,
        key=lambda t: t.value,
    )
    sweep(
        [
            "hydra.sweeper.study_name=dst",
            "hydra.sweeper.n_trials=4",
            f"hydra.sweeper.warm_start={{studies:related,transfer:seed,storage:{other},max_trials:1}}",
        ]
    )
    study = load("dst", tmp_path)
    assert transferred(study) == [(0, f"dst#{best.number}")]
    assert study.trials[0].params == best.params
    record = study.user_attrs[TRANSFER]
    assert (record["sources"], record["storage"]) == (["dst"], str(other))
    assert len(optuna.load_study(study_name="dst", storage=open_storage(str(other))).trials) == 12


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "{studies:related,transfer:zero_shot}",
            r"warm_start\.transfer: 'zero_shot' is not one of seed, box, prior",
        ),
        ("{studies:[nope]}", r"warm_start\.studies: no study nope in the storage"),
        ("{studies:[other],max_trials:0}", r"warm_start\.max_trials: give at least 1"),
    ],
)
def test_a_transfer_that_cannot_work_stops_before_any_trial(sweep, tmp_path, setting, message):
    source(sweep, "other")
    with pytest.raises(ConfigError, match=message):
        sweep(["hydra.sweeper.study_name=dst", f"hydra.sweeper.warm_start={setting}"])
    storage = open_storage(str(tmp_path / "outputs" / "hydratune.journal"))
    assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == ["other"]


@pytest.mark.parametrize(
    "setting", ["{studies:[other],storage:data.csv}", "{study_name:other,storage:data.csv}"]
)
def test_a_source_storage_that_is_not_a_journal_is_named_by_its_setting(sweep, tmp_path, setting):
    (tmp_path / "data.csv").write_text("epoch,acc\n1,0.5\n")
    with pytest.raises(ConfigError) as error:
        sweep(["hydra.sweeper.study_name=dst", f"hydra.sweeper.warm_start={setting}"])
    message = str(error.value)
    assert message.startswith("hydra.sweeper.warm_start"), message
    assert message.count("hydra.sweeper") == 1 and "is not an Optuna journal" in message
    assert (tmp_path / "data.csv").read_text() == "epoch,acc\n1,0.5\n"


def test_a_multi_objective_sweep_cannot_rank_configurations_to_transfer(tmp_path):
    space = parse_search_space({"x": "interval(0, 1)"}, [])
    two = [StudyDirection.MINIMIZE] * 2
    with pytest.raises(ConfigError, match=r"warm_start\.studies: a transfer ranks .* has 2"):
        plan_transfer({"studies": "related"}, space, str(tmp_path / "j.journal"), "s", two, 10)


TINY = [
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=1",
    "hydra.sweeper.report=false",
    "hydra.sweeper.progress=false",
    "hydra.sweeper.export_best=false",
]


def hydratune(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("hydratune")), "-m", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_transfer_from_another_journal_with_two_jobs_through_the_cli(tmp_path):
    """The bundled app, as a person runs it: the source study in one project's journal, the
    target (same sweep, same study name) in another's, its trials two at a time."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    done = hydratune(first, "sweep=mlp_digits", "hydra.sweeper.n_trials=3", *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    other = first / "outputs" / "hydratune.journal"
    best = sorted(load("mlp_digits", first).trials, key=lambda t: -t.value)[:2]
    done = hydratune(
        second,
        "sweep=mlp_digits",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.n_jobs=2",
        f"hydra.sweeper.warm_start={{studies: related, transfer: seed, storage: {other}, "
        "max_trials: 2}",
        *TINY,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    study = load("mlp_digits", second)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    # one transferred configuration for each own trial, though two run at once
    assert transferred(study) == [
        (0, f"mlp_digits#{best[0].number}"),
        (2, f"mlp_digits#{best[1].number}"),
    ]
    assert [study.trials[n].params for n in (0, 2)] == [t.params for t in best]
    record = study.user_attrs[TRANSFER]
    assert (record["sources"], record["storage"], record["fallback"]) == (
        ["mlp_digits"],
        str(other),
        None,
    )
    assert len(load("mlp_digits", first).trials) == 3  # the source is read, never written
