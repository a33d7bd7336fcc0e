"""``transfer: prior``: the sources' trials, as quantiles, steer the sampler from the first
trial; the study holds only what ran; a control trial drawn without them is the guard's
reference."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.study import StudyDirection

from helpers import load
from hydratune.attrs import TRANSFER
from hydratune.space import parse_search_space
from hydratune.sweep.transfer import Transfer, plan_transfer, with_prior
from hydratune.sweep.transfer_prior import quantiles, shows_prior

SPACE = parse_search_space({"x": "interval(0, 10)", "y": "interval(0, 10)"}, [])
CENTER = 7.0


def bowl(sign: float = 1.0):
    """Best at (7, 7) (``sign`` -1: worst there, best in the corners)."""
    return lambda p: sign * ((p["x"] - CENTER) ** 2 + (p["y"] - CENTER) ** 2)


def sources(url: str, **tasks) -> None:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))
    for i, (name, objective) in enumerate(tasks.items()):
        study = optuna.create_study(
            study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=i)
        )
        study.optimize(lambda t, f=objective: f(SPACE.suggest(t)), n_trials=30)


def target(url: str, names: list[str], n_trials: int, seed: int = 0) -> optuna.Study:
    """A sweep's loop over ``bowl()`` with ``transfer: prior`` from ``names``."""
    settings = {"studies": names, "transfer": "prior"}
    plan = plan_transfer(settings, SPACE, url, "target", [StudyDirection.MINIMIZE], n_trials)
    sampler = with_prior(optuna.samplers.TPESampler(seed=seed), plan, SPACE)
    study = optuna.create_study(sampler=sampler)
    transfer = Transfer(plan)
    transfer.start(study)
    for _ in range(n_trials):
        transfer.before_ask(study)
        trial = study.ask()
        study.tell(trial, bowl()(SPACE.suggest(trial)))
    return study


def test_quantiles_rank_values_with_ties_sharing_their_mean_rank():
    assert quantiles([0.3, 0.1, 0.3, 0.0]) == [2.5 / 3, 1 / 3, 2.5 / 3, 0.0]
    assert quantiles([4.0]) == [0.0]


def test_the_sources_trials_steer_the_sampler_and_the_study_holds_only_its_own(tmp_path):
    url = str(tmp_path / "j.journal")
    sources(url, a=bowl(), b=lambda p: 1000 + 50 * bowl()(p))  # same shape, another scale
    for seed in range(3):
        study = target(url, ["a", "b"], 6, seed)
        assert len(study.trials) == 6
        record = study.user_attrs[TRANSFER]
        assert (record["controls"], record["fallback"]) == ([2], None)
        near = [
            abs(t.params["x"] - CENTER) + abs(t.params["y"] - CENTER)
            for t in study.trials
            if t.number != 2  # the control, drawn at random
        ]
        # at random (18% of the square within 3), 4 of 5 there: 1 in 200
        assert sum(d < 3 for d in near) >= 4, near


def test_unrelated_sources_are_dropped_after_the_control_and_the_sweep_says_so(tmp_path, caplog):
    url = str(tmp_path / "j.journal")
    sources(url, opposite=bowl(-1))
    study = target(url, ["opposite"], 8)
    record = study.user_attrs[TRANSFER]
    assert record["fallback"].startswith(
        "the 2 trial(s) drawn with the sources' prior do worse here than the 1 drawn without it"
    )
    assert record["fallback"].endswith("own search from trial #3")
    assert f"warm_start: {record['fallback']}" in caplog.text
    assert not shows_prior(record, 3)


def test_the_prior_leads_the_first_trials_but_the_controls_and_never_after_a_fallback():
    record = {"controls": [5], "prior_until": 13, "fallback": None}
    assert [shows_prior(record, n) for n in (4, 5, 6, 12, 13)] == [True, False, True, True, False]
    assert not shows_prior({**record, "fallback": "unrelated"}, 6)


def test_a_prior_transfer_through_the_sweeper_records_what_it_showed(sweep, tmp_path: Path):
    sweep(["hydra.sweeper.study_name=src", "hydra.sweeper.n_trials=12"])
    sweep(
        [
            "hydra.sweeper.study_name=dst",
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.warm_start={studies:related,transfer:prior}",
        ]
    )
    study = load("dst", tmp_path)
    assert len(study.trials) == 6  # the source's 12 trials are only in the sampler's view
    record = study.user_attrs[TRANSFER]
    assert (record["mode"], record["prior_trials"], record["controls"]) == ("prior", 12, [2])
    assert record["prior_until"] == 10
    assert record["candidates"] == []
