"""ASHA with promotion on real Lightning checkpoints: rungs, promotion of the top 1/eta (paper,
the default: none before eta paused; eager: also, at once, a run ranking well so far), the
study it leaves (what trained, where it continued from), used checkpoints deleted, a torn
checkpoint never loaded, workers and the sweeper killed (mid-write too), Hyperband's brackets,
and settings that cannot work refused before the first trial."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from helpers import (
    COUNTING_EPOCHS,
    REPO,
    counting_epochs,
    load,
    multirun,
    start_python,
    train_handing_trial_0s_promotion_to_the_other_worker,
    train_killed_in_its_first_continuation,
    wait_for_marker,
)
from hydratune.attrs import (
    CHECKPOINT,
    LOST,
    PAUSED,
    RESUMED_FROM,
    RETRY_OF,
    SEGMENT,
    STOPPED_REASON,
)
from hydratune.errors import StudyConfigError
from hydratune.insight.report.model import objectives_of
from hydratune.insight.report.schedule import schedule_section
from hydratune.schedule.asha import AshaSchedule, bracket_shares, max_brackets, rung_epochs
from hydratune.schedule.checkpoints import CheckpointRecord
from hydratune.schedule.lineage import is_paused, schedule_data
from hydratune.schema.schedulers import AshaConf
from hydratune.training.task import train

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

TINY = ["+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2"]
ASHA = ["hydra/sweeper/scheduler=asha", "hydra.sweeper.scheduler.eta=2"]
HYPERBAND = ["hydra/sweeper/scheduler=hyperband", "hydra.sweeper.scheduler.eta=2"]
EAGER = "hydra.sweeper.scheduler.promotion=eager"  # a run ranking well so far goes on at once
PBT = ["hydra/sweeper/scheduler=pbt"]
QUIET = [
    "trainer.max_epochs=4",  # ASHA's rungs at 1, 2 and 4 epochs
    "hydra.sweeper.progress=false",
    "hydra.sweeper.report=false",
]


def sweep(*overrides: str, scheduler: list[str] = ASHA, task: Any = train) -> None:
    multirun(
        ["sweep=mlp_digits", *TINY, *QUIET, *scheduler, *overrides],
        task=task,
        config_name="train",
        config_dir=REPO / "conf",
    )


def test_rungs_grow_by_eta_below_the_last_epoch_which_is_the_last_rung():
    assert rung_epochs(1, 3, 9) == [1, 3, 9]
    assert rung_epochs(1, 3, 10) == [1, 3, 9, 10]
    assert rung_epochs(2, 2, 5) == [2, 4, 5]


def test_hyperband_has_a_bracket_per_rung_up_to_the_last_epoch_sharing_out_as_optuna():
    assert max_brackets(1, 3, 9) == 3  # first rungs at 1, 3 and 9 epochs
    assert max_brackets(1, 3, 10) == 3  # floor(log_3(10)) + 1: none starts at the 10th epoch
    assert max_brackets(2, 2, 7) == 2
    # optuna.pruners.HyperbandPruner's trial allocation budgets, most to the earliest stops
    assert bracket_shares(3, 2) == [4, 3, 3]
    assert bracket_shares(3, 3) == [9, 5, 3]
    assert bracket_shares(1, 3) == [1]


def test_hyperband_starts_each_bracket_at_its_rung_and_ranks_within_the_bracket(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    rungs = [1, 2, 4]  # eta 2, 4 epochs: brackets start at rungs 0, 1 and 2
    multirun([*HYPERBAND, *COUNTING_EPOCHS, "hydra.sweeper.n_trials=10"], task=counting_epochs)
    trials = load("quadratic", tmp_path).trials
    assert len(trials) == 10 and all(t.state.is_finished() for t in trials)
    new = [t for t in trials if RESUMED_FROM not in t.user_attrs]
    brackets = [t.user_attrs[SEGMENT]["bracket"] for t in new]
    # shared out 4:3:3 (Optuna's budgets for 3 brackets), each bracket at its turn
    assert brackets == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0][: len(new)]
    for trial, bracket in zip(new, brackets, strict=True):
        segment = trial.user_attrs[SEGMENT]
        assert segment["rung"] == bracket and segment["epochs"] == rungs[bracket]
        assert sorted(trial.intermediate_values) == list(range(rungs[bracket]))
        last = rungs[bracket] == 4  # the last bracket trains to the end at once
        assert trial.state == (TrialState.COMPLETE if last else TrialState.PRUNED)
    continued = [t for t in trials if RESUMED_FROM in t.user_attrs]
    assert {t.user_attrs[SEGMENT]["bracket"] for t in continued} == {0, 1}  # 2 starts at the end
    for trial in continued:
        source = trials[trial.user_attrs[RESUMED_FROM]["trial"]]
        segment, paused = trial.user_attrs[SEGMENT], source.user_attrs[SEGMENT]
        assert segment["bracket"] == paused["bracket"] and segment["rung"] == paused["rung"] + 1
        assert segment["epochs"] == rungs[segment["rung"]]
        assert sorted(trial.intermediate_values) == list(range(paused["epochs"], segment["epochs"]))
        # in the top 1/eta (minimized) of the runs of its own bracket paused at that rung before
        rivals = [
            t.intermediate_values[paused["epochs"] - 1]
            for t in trials[: trial.number]
            if is_paused(t)
            and (t.user_attrs[SEGMENT]["bracket"], t.user_attrs[SEGMENT]["rung"])
            == (paused["bracket"], paused["rung"])
        ]
        assert len(rivals) >= 2
        assert (
            source.intermediate_values[paused["epochs"] - 1] <= sorted(rivals)[len(rivals) // 2 - 1]
        )

    # the report and the page (one reader: schedule_data) show each bracket's rungs apart
    section = schedule_section(trials, objectives_of(load("quadratic", tmp_path))[0])
    (table,) = section.tables
    where = {(s["bracket"], s["rung"]) for s in (t.user_attrs[SEGMENT] for t in trials)}
    assert table.head[:2] == ["bracket", "rung"]
    assert [(int(row[0]), int(row[1])) for row in table.rows] == sorted(where)
    for row in table.rows:
        at = [
            t
            for t in trials
            if (t.user_attrs[SEGMENT]["bracket"], t.user_attrs[SEGMENT]["rung"])
            == (int(row[0]), int(row[1]))
        ]
        assert row[3] == str(len(at))
    texts = [text for trace in section.figures[0][1].data for text in trace.text]
    assert {text.split(", ", 1)[1] for text in texts} == {f"bracket {b} rung {r}" for b, r in where}


def paused_at_rung_0(study: optuna.Study, value: float, folder: Path) -> int:
    """A run that paused at rung 0 (1 epoch) with ``value`` and a real checkpoint file."""
    number = len(study.trials)
    path = folder / f"{number}.ckpt"
    path.write_bytes(b"weights of run %d" % number)
    trial = optuna.trial.create_trial(
        state=TrialState.PRUNED,
        params={"x": value},
        distributions={"x": FloatDistribution(0, 1)},
        intermediate_values={0: value},
        user_attrs={
            SEGMENT: {"kind": "asha", "rung": 0, "epochs": 1},
            STOPPED_REASON: f"{PAUSED} after 1 epochs",
            CHECKPOINT: CheckpointRecord.of_file(path, 1).as_attr(),
        },
    )
    study.add_trial(trial)
    return number


def continued_now(schedule: AshaSchedule) -> int | None:
    """The paused run the slot that just freed continues (a new configuration: None)."""
    trial = schedule.ask()
    return None if trial is None else trial.user_attrs[RESUMED_FROM]["trial"]


def asha_schedule(promotion: str) -> AshaSchedule:
    conf = OmegaConf.structured(AshaConf(eta=3, promotion=promotion))
    return AshaSchedule(conf, optuna.create_study(), "epochs", 9)  # rungs at 1, 3 and 9 epochs


def test_eager_promotion_continues_a_run_at_once_when_it_ranks_in_the_top_third_so_far(tmp_path):
    schedule = asha_schedule("eager")
    study = schedule.study  # val/loss, minimized
    first = paused_at_rung_0(study, 0.5, tmp_path)
    assert continued_now(schedule) == first  # the rung's first run: nothing to wait for
    assert continued_now(schedule) is None  # continued once
    second = paused_at_rung_0(study, 0.55, tmp_path)
    assert continued_now(schedule) is None  # below the first (the 2/3 quantile of one value)
    for value in (0.9, 0.95, 0.99):  # each below the 2/3 quantile of the rung so far
        paused_at_rung_0(study, value, tmp_path)
        assert continued_now(schedule) is None
    # the paper's rule still holds: with 6 paused, the top 2 continue, so the second goes on
    paused_at_rung_0(study, 0.98, tmp_path)
    assert continued_now(schedule) == second
    # the cut is the rung's 1/3 quantile of losses so far (Ray Tune's, interpolated): 0.783 of
    # the six, so 0.8 waits; then 0.8 of the seven, so 0.7 goes on though the paper's top two
    # of eight are 0.5 and 0.55
    paused_at_rung_0(study, 0.8, tmp_path)
    assert continued_now(schedule) is None
    good = paused_at_rung_0(study, 0.7, tmp_path)
    assert continued_now(schedule) == good


def test_paper_promotion_continues_no_run_before_eta_have_paused_at_its_rung(tmp_path):
    schedule = asha_schedule("paper")
    study = schedule.study
    best = paused_at_rung_0(study, 0.5, tmp_path)
    assert continued_now(schedule) is None
    paused_at_rung_0(study, 0.9, tmp_path)
    assert continued_now(schedule) is None
    paused_at_rung_0(study, 0.7, tmp_path)
    assert continued_now(schedule) == best  # the top third of three


def test_a_rerun_continues_the_eager_promotion_its_study_holds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    asha = [*ASHA, EAGER, *COUNTING_EPOCHS]  # eta 2: rungs at 1, 2 and 4 epochs

    multirun([*asha, "hydra.sweeper.n_trials=1"], task=counting_epochs)
    multirun([*asha, "hydra.sweeper.n_trials=3"], task=counting_epochs)  # the rerun
    first, second, third = load("quadratic", tmp_path).trials
    # the first run at each rung went on at once, from the checkpoint of the run before
    assert second.user_attrs[RESUMED_FROM] == {"trial": 0, "epoch": 1}
    assert third.user_attrs[RESUMED_FROM] == {"trial": 1, "epoch": 2}
    assert [t.user_attrs[SEGMENT]["rung"] for t in (first, second, third)] == [0, 1, 2]
    assert [t.state for t in (first, second, third)] == [TrialState.PRUNED] * 2 + [
        TrialState.COMPLETE
    ]
    assert sorted(third.intermediate_values) == [2, 3]  # trained on from epoch 2 to 4


@pytest.mark.slow  # 12 Lightning trials: not in make test-fast
def test_asha_promotes_the_top_of_each_rung_from_its_checkpoint_and_the_study_shows_it(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.chdir(tmp_path)
    sweep("hydra.sweeper.n_trials=12")
    trials = load("mlp_digits", tmp_path).trials
    assert len(trials) == 12
    # the log says a run paused, not that it was pruned
    paused = [t for t in trials if is_paused(t)]
    said = "".join(capfd.readouterr())
    assert paused and all(f"trial #{t.number} paused after " in said for t in paused)
    assert " pruned: " not in said
    continued = [t for t in trials if RESUMED_FROM in t.user_attrs]
    assert continued, "no trial was promoted"
    for trial in continued:
        resumed = trial.user_attrs[RESUMED_FROM]
        source = trials[resumed["trial"]]
        rung = source.user_attrs[SEGMENT]["rung"]
        assert trial.params == source.params
        assert resumed["epoch"] == source.user_attrs[SEGMENT]["epochs"]
        assert trial.user_attrs[SEGMENT]["rung"] == rung + 1
        # it trained (and reported) only the epochs after its source's pause
        epochs = trial.user_attrs[SEGMENT]["epochs"]
        assert sorted(trial.intermediate_values) == list(range(resumed["epoch"], epochs))
        # promoted from the top 1/eta of the trials paused at that rung before it was asked
        rivals = [
            t
            for t in trials
            if t.number < trial.number and is_paused(t) and t.user_attrs[SEGMENT]["rung"] == rung
        ]
        scores = sorted((t.intermediate_values[resumed["epoch"] - 1] for t in rivals), reverse=True)
        assert source.intermediate_values[resumed["epoch"] - 1] >= scores[len(rivals) // 2 - 1]
        # the checkpoint it continued from is used up: deleted
        assert not Path(source.user_attrs[CHECKPOINT]["path"]).exists()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert all(t.user_attrs[SEGMENT]["epochs"] == 4 for t in complete)
    waiting = [
        t
        for t in trials
        if is_paused(t) and t.number not in {c.user_attrs[RESUMED_FROM]["trial"] for c in continued}
    ]
    assert waiting and all(Path(t.user_attrs[CHECKPOINT]["path"]).is_file() for t in waiting)


@pytest.mark.slow  # two Lightning sweeps: not in make test-fast
def test_a_torn_checkpoint_is_never_loaded_and_its_trial_is_not_continued(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.chdir(tmp_path)
    sweep("hydra.sweeper.n_trials=2")  # two paused at rung 0: the better one is next to go on
    trials = load("mlp_digits", tmp_path).trials
    best = max(trials, key=lambda t: t.intermediate_values[0])
    path = Path(best.user_attrs[CHECKPOINT]["path"])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # cut short, as by a kill
    capfd.readouterr()
    sweep("hydra.sweeper.n_trials=4")  # the sweep's log goes to the terminal, as Hydra sets it
    later = load("mlp_digits", tmp_path).trials[2:]
    assert all(t.user_attrs.get(RESUMED_FROM, {}).get("trial") != best.number for t in later)
    assert f"trial #{best.number}'s checkpoint" in "".join(capfd.readouterr())


def test_two_studies_of_one_name_share_a_checkpoint_root_without_touching_each_others_files(
    tmp_path, monkeypatch
):
    root = tmp_path / "shared"
    asha = [*ASHA, *COUNTING_EPOCHS, f"hydra.sweeper.scheduler.checkpoint_root={root}"]
    for project, seed in (("a", 0), ("b", 7)):  # each its own journal, both study 'quadratic'
        (tmp_path / project).mkdir()
        monkeypatch.chdir(tmp_path / project)
        multirun(
            [*asha, "hydra.sweeper.n_trials=6", f"hydra.sweeper.sampler.seed={seed}"],
            task=counting_epochs,
        )
        if project == "a":
            first = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert first and all(path.read_bytes() == data for path, data in first.items())
    for project in ("a", "b"):
        trials = load("quadratic", tmp_path / project).trials
        saved = [
            Path(t.user_attrs[CHECKPOINT]["path"]) for t in trials if CHECKPOINT in t.user_attrs
        ]
        assert saved and all(path.parent.parent.name.startswith("quadratic-") for path in saved)
        assert len({path.parent.parent for path in saved}) == 1  # one dir per study
        if project == "b":
            assert not set(saved) & set(first)


def test_a_value_that_moves_by_itself_is_not_read_as_following_the_budget(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ${now:...} differs from one read to the next, budget or not
    asha = [*ASHA, *COUNTING_EPOCHS, "+run_id=${now:%H%M%S%f}", "hydra.sweeper.n_trials=2"]
    multirun(asha, task=counting_epochs)
    assert len(load("quadratic", tmp_path).trials) == 2


def test_a_warm_started_study_keeps_its_own_budget(tmp_path, monkeypatch):
    """Trials warm_start copies keep the source study's plan (its budget): not this study's."""
    monkeypatch.chdir(tmp_path)
    asha = [*ASHA, *COUNTING_EPOCHS]
    multirun(
        [*asha, "hydra.sweeper.n_trials=3", "hydra.sweeper.study_name=source"], task=counting_epochs
    )
    mine = [*asha, "epochs=6", "hydra.sweeper.study_name=mine"]
    multirun(
        [
            *mine,
            "hydra.sweeper.n_trials=5",
            "hydra.sweeper.warm_start={storage:outputs/hydratune.journal,study_name:source}",
        ],
        task=counting_epochs,
    )
    multirun([*mine, "hydra.sweeper.n_trials=6"], task=counting_epochs)  # its own budget: 6
    assert len(load("mine", tmp_path).trials) == 6


def test_a_rerun_with_another_budget_is_refused_naming_the_one_the_study_trains_to(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    asha = [*ASHA, *COUNTING_EPOCHS]  # +epochs=4: the budget, scheduled by resource_key=epochs
    multirun([*asha, "hydra.sweeper.n_trials=4"], task=counting_epochs)
    journal = tmp_path / "outputs/hydratune.journal"
    before = journal.read_bytes()
    assert all(t.user_attrs[SEGMENT]["budget"] == 4 for t in load("quadratic", tmp_path).trials)
    with pytest.raises(
        StudyConfigError,
        match=r"^epochs=8, but this study's schedule trains its "
        r"runs to 4 epochs \(trial #0's plan\): run it with epochs=4, or start",
    ):
        multirun([*asha, "epochs=8", "hydra.sweeper.n_trials=8"], task=counting_epochs)
    assert journal.read_bytes() == before  # nothing run, nothing written


def test_an_app_that_saves_no_checkpoint_stops_the_sweep_at_the_first_pause(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="no checkpoint is at"):
        sweep("hydra.sweeper.n_trials=3", "hydra.sweeper.scheduler.save_key=null")
    trial, retry = load("mlp_digits", tmp_path).trials  # lost: it runs again once fixed
    assert trial.state == TrialState.FAIL and trial.user_attrs[LOST]
    assert retry.state == TrialState.WAITING and retry.user_attrs[RETRY_OF] == 0
    assert "ModelCheckpoint(save_last=True)" in trial.user_attrs["fail_reason"]
    out, err = capfd.readouterr()
    assert "no checkpoint is at" in out + err and "Traceback" not in out + err  # one message


def stale_checkpoint(cfg):
    """hydratune's task, whose checkpoint then says one epoch fewer, as Lightning's last.ckpt
    does where ModelCheckpoint's monitored value did not improve at the pause."""
    import torch
    from hydra.core.hydra_config import HydraConfig

    value = train(cfg)
    path = Path(HydraConfig.get().runtime.output_dir, "checkpoints", "last.ckpt")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"] -= 1
    torch.save(checkpoint, path)
    return value


def test_a_checkpoint_older_than_the_pause_is_refused_not_continued_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="paused after 1 epochs but its checkpoint at .* holds 0"):
        sweep("hydra.sweeper.n_trials=3", task=stale_checkpoint)
    trial = load("mlp_digits", tmp_path).trials[0]
    assert trial.state == TrialState.FAIL and trial.user_attrs[LOST]
    assert CHECKPOINT not in trial.user_attrs  # never recorded, so never continued from
    assert "callbacks.model_checkpoint.monitor=null" in trial.user_attrs["fail_reason"]


def test_an_app_that_ignores_the_checkpoint_it_is_given_stops_at_its_first_continuation(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    # the checkpoint goes to a key the task does not continue from: it trains from epoch 0 again
    with pytest.raises(Exception, match="ignores hydra.sweeper.scheduler.load_key=paths.data_dir"):
        sweep("hydra.sweeper.n_trials=6", "hydra.sweeper.scheduler.load_key=paths.data_dir")
    trials = load("mlp_digits", tmp_path).trials
    (continued,) = [t for t in trials if RESUMED_FROM in t.user_attrs and t.state.is_finished()]
    assert continued.state == TrialState.FAIL and min(continued.intermediate_values) == 0
    assert continued.user_attrs[LOST]  # the app's setup failed, not the run
    source = trials[continued.user_attrs[RESUMED_FROM]["trial"]]
    assert Path(source.user_attrs[CHECKPOINT]["path"]).is_file()  # kept for the fixed rerun
    assert all(t.state == TrialState.PRUNED for t in trials if t.number < continued.number)
    # fixed (the default load_key), the same sweep continues it from that checkpoint
    sweep("hydra.sweeper.n_trials=6")
    trials = load("mlp_digits", tmp_path).trials
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF) == continued.number]
    assert retry.state.is_finished() and retry.user_attrs[RESUMED_FROM]["trial"] == source.number
    assert min(retry.intermediate_values) == continued.user_attrs[RESUMED_FROM]["epoch"]


@pytest.mark.parametrize(
    "overrides, key",
    [
        (
            [
                "hydra/sweeper/sampler=grid",
                "hydra.sweeper.params=null",
                "model.n_layers=choice(1,2)",
            ],
            "grid",
        ),
        (["hydra.sweeper.scheduler.eta=1"], "scheduler.eta"),
        (["hydra.sweeper.scheduler.promotion=lazy"], "scheduler.promotion"),
        (["hydra.sweeper.scheduler.min_resource=4"], "scheduler.min_resource"),
        (["hydra.sweeper.scheduler.min_resource=0"], "scheduler.min_resource"),
        (["trainer.min_epochs=3"], "trainer.min_epochs=3 trains past the first pause"),
        (["hydra/sweeper/pruner=median"], "pruner=nop"),
        (["hydra.sweeper.scheduler.load_key=resume_from"], "scheduler.load_key"),
        (  # the decay would end at every pause
            ["model/scheduler=cosine"],
            r"model.scheduler.T_max: \$\{trainer.max_epochs\} follows trainer.max_epochs, which "
            r"asha sets to each run's pause.*: model.scheduler.T_max=4$",
        ),
        (  # a list's item too
            [
                "+model.scheduler={_target_:torch.optim.lr_scheduler.MultiStepLR,_partial_:true,"
                "milestones:[2,${trainer.max_epochs}]}"
            ],
            r"^model.scheduler.milestones: .* follows trainer.max_epochs.*milestones=\[2, 4\]$",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_before_the_first_trial(
    tmp_path, monkeypatch, overrides, key
):
    refused(tmp_path, monkeypatch, key, *overrides)


@pytest.mark.parametrize("brackets", [0, 4])  # 4 epochs, eta 2: first rungs at 1, 2 and 4
def test_hyperband_brackets_beyond_the_rungs_are_refused_before_the_first_trial(
    tmp_path, monkeypatch, brackets
):
    overrides = [f"hydra.sweeper.scheduler.brackets={brackets}"]
    refused(tmp_path, monkeypatch, "scheduler.brackets", *overrides, scheduler=HYPERBAND)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["hydra.sweeper.scheduler.perturbation_interval=4"], "scheduler.perturbation_interval"),
        (["hydra.sweeper.scheduler.perturbation_interval=0"], "scheduler.perturbation_interval"),
        (["hydra.sweeper.scheduler.population=9"], "scheduler.population"),
        (["hydra.sweeper.scheduler.explore=5"], r"scheduler.explore \(pbt\): must be a list"),
        (["hydra.sweeper.scheduler.explore=model.lr"], r"explore \(pbt\): must be a list"),
    ],
)
def test_pbt_settings_that_cannot_work_are_refused_before_the_first_trial(
    tmp_path, monkeypatch, overrides, key
):
    refused(tmp_path, monkeypatch, key, *overrides, scheduler=PBT)


def refused(tmp_path, monkeypatch, key: str, *overrides: str, scheduler=ASHA) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StudyConfigError, match=key) as raised:
        sweep("hydra.sweeper.n_trials=8", *overrides, scheduler=scheduler)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "outputs/hydratune.journal").exists()


# Trial 0 learns (the top lr), trial 1 barely moves (the bottom lr): trial 0 is the one promoted.
GOOD_AND_BAD = (
    "hydra.sweeper.enqueue=["
    + ", ".join(
        f"{{model.hidden_dim: 64, model.n_layers: 1, model.dropout: 0.0, model.optimizer.lr: {lr},"
        " model.optimizer.weight_decay: 1e-6}"
        for lr in (3e-2, 1e-4)
    )
    + "]"
)


@pytest.mark.slow
def test_with_two_worker_processes_a_trial_paused_in_one_continues_in_the_other(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    sweep(
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.n_jobs=2",
        GOOD_AND_BAD,
        task=train_handing_trial_0s_promotion_to_the_other_worker,
    )
    trials = load("mlp_digits", tmp_path).trials
    first, second = trials[0], trials[1]
    assert first.user_attrs["pid"] != second.user_attrs["pid"], "one worker each"
    assert first.intermediate_values[0] > second.intermediate_values[0]  # at the first rung
    continued = [t for t in trials if RESUMED_FROM in t.user_attrs]
    for trial in continued:  # each loaded its source's checkpoint: it trained on from there
        assert min(trial.intermediate_values) == trial.user_attrs[RESUMED_FROM]["epoch"]
    (promoted, *_) = [t for t in continued if t.user_attrs[RESUMED_FROM]["trial"] == 0]
    assert promoted.user_attrs["pid"] == second.user_attrs["pid"] != first.user_attrs["pid"]


@pytest.mark.slow
def test_a_worker_killed_while_a_promoted_trial_trains_loses_only_that_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep(
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.n_jobs=2",
        task=train_killed_in_its_first_continuation,
    )
    trials = load("mlp_digits", tmp_path).trials
    (lost,) = [t for t in trials if t.user_attrs.get(LOST)]
    assert RESUMED_FROM in lost.user_attrs
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF) == lost.number]
    # the retry continues the same run from the same checkpoint: the epochs before it are kept
    assert retry.user_attrs[RESUMED_FROM] == lost.user_attrs[RESUMED_FROM]
    assert retry.user_attrs[SEGMENT] == lost.user_attrs[SEGMENT]
    assert retry.state != TrialState.FAIL
    assert min(retry.intermediate_values) == retry.user_attrs[RESUMED_FROM]["epoch"]
    # the rungs the report, steer show and the page draw count the retry, not the lost run
    rungs = schedule_data(trials, maximize=True)["rungs"]
    shown = [run[0] for rung in rungs for run in rung["runs"]]
    assert retry.number in shown and lost.number not in shown
    assert sum(len(rung["runs"]) for rung in rungs) == len(trials) - 1


def start_asha_sweep(cwd: Path, *overrides: str) -> subprocess.Popen:
    """The README's ASHA command, ``hydratune -m sweep=mlp_digits hydra/sweeper/scheduler=asha``,
    tiny, in a process of its own (the in-process launcher: the sweeper writes checkpoints)."""
    return start_python(
        cwd, "-m", "hydratune", "-m", "sweep=mlp_digits", *TINY, *QUIET, *ASHA, *overrides
    )


@pytest.mark.slow  # a sweep in a subprocess and its rerun here: 5 Lightning runs
def test_a_sweeper_killed_while_it_writes_a_checkpoint_loses_only_that_run(tmp_path, monkeypatch):
    fifo, marker = tmp_path / "stall", tmp_path / "stalled"
    os.mkfifo(fifo)
    # the first promoted run writes half its checkpoint, then blocks on the FIFO
    stall = (
        f"+trainer.plugins=[{{_target_:stall_checkpoint.StallMidWrite,fifo:'{fifo}',"
        f"marker:'{marker}',resumed:'${{ckpt_path}}'}}]"
    )
    proc = start_asha_sweep(tmp_path, "hydra.sweeper.n_trials=3", stall)
    assert wait_for_marker(marker, proc) == proc.pid  # the sweeper's own process writes it
    proc.kill()
    proc.wait()
    fifo.unlink()

    trials = load("mlp_digits", tmp_path).trials
    killed = trials[-1]
    assert killed.state == TrialState.RUNNING and RESUMED_FROM in killed.user_attrs
    assert CHECKPOINT not in killed.user_attrs  # a checkpoint is recorded once its run ended
    trial_dir = tmp_path / "outputs/sweeps/mlp_digits" / str(killed.number) / "checkpoints"
    (torn,) = trial_dir.iterdir()  # the half-written temporary, never the checkpoint's name
    assert torn.name.startswith(".last.ckpt.") and torn.name.endswith(".tmp")
    source = trials[killed.user_attrs[RESUMED_FROM]["trial"]]
    assert torn.stat().st_size < source.user_attrs[CHECKPOINT]["size"]

    monkeypatch.chdir(tmp_path)
    sweep("hydra.sweeper.n_trials=3")  # the same command again (in this process: faster)
    trials = load("mlp_digits", tmp_path).trials
    assert all(t.state.is_finished() for t in trials)
    lost = trials[killed.number]
    assert lost.state == TrialState.FAIL and lost.user_attrs[LOST]
    assert all(t.user_attrs.get(RESUMED_FROM, {}).get("trial") != lost.number for t in trials)
    # its retry continued the same run from the same intact checkpoint, and paused in its turn
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_OF) == lost.number]
    assert retry.user_attrs[RESUMED_FROM] == lost.user_attrs[RESUMED_FROM]
    assert min(retry.intermediate_values) == retry.user_attrs[RESUMED_FROM]["epoch"]
    overrides = OmegaConf.load(
        tmp_path / f"outputs/sweeps/mlp_digits/{retry.number}/.hydra/overrides.yaml"
    )
    assert f"ckpt_path='{source.user_attrs[CHECKPOINT]['path']}'" in overrides
    assert is_paused(retry) and Path(retry.user_attrs[CHECKPOINT]["path"]).is_file()
    assert [t.state for t in trials].count(TrialState.FAIL) == 1
    assert len(trials) == 4  # n_trials=3 runs, the lost one not counted
