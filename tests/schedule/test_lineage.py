"""The lineage reader: the chain of checkpoints a run's weights came through."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState, create_trial

from hydratune.attrs import PAUSED, RESUMED_FROM, SEGMENT, STOPPED_REASON
from hydratune.schedule import lineage_root, state_counts, waiting_to_continue


def study_of(resumed: list[int | None]) -> list:
    """Trials 0, 1, ...; trial i continued from ``resumed[i]``'s checkpoint (None: new)."""
    study = optuna.create_study()
    for source in resumed:
        attrs = {} if source is None else {RESUMED_FROM: {"trial": source, "epoch": 1}}
        study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs=attrs))
    return study.get_trials(deepcopy=False)


def test_a_run_belongs_to_the_chain_of_the_first_run_its_weights_came_through():
    trials = study_of([None, None, 0, 2, 1, 3])  # 0 -> 2 -> 3 -> 5 and 1 -> 4
    assert [lineage_root(t, trials) for t in trials] == [0, 1, 0, 0, 1, 0]


def test_a_run_that_names_itself_or_a_trial_not_in_the_study_ends_the_chain():
    trials = study_of([0, None, 1, 9])  # #0 "continued" from itself; #3 from a missing trial
    assert [lineage_root(t, trials) for t in trials] == [0, 1, 1, 3]


def test_a_pbt_members_paused_run_waits_only_while_it_is_the_members_latest():
    study = optuna.create_study()
    for member, source in [(0, None), (1, None), (0, 1)]:  # #2: member 0 exploits #1's
        attrs = {SEGMENT: {"kind": "pbt", "member": member, "epochs": 2}, STOPPED_REASON: PAUSED}
        if source is not None:
            attrs[RESUMED_FROM] = {"trial": source, "epoch": 2}
        study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs=attrs))
    trials = study.get_trials(deepcopy=False)
    # #0 was left behind by its member; #1, which member 0 copied, is still member 1's latest
    # run, which member 1 continues (PbtSchedule.next_continuation): #1 and #2 may be continued
    assert [t.number for t in waiting_to_continue(trials)] == [1, 2]


def test_a_paused_run_is_counted_apart_from_the_pruned_ones():
    study = optuna.create_study()
    reasons = [f"{PAUSED} after 1 epochs (rung 0)", "pruned at epoch 1", None]
    for reason in reasons:  # all three are PRUNED in Optuna
        attrs = {STOPPED_REASON: reason} if reason else {}
        study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs=attrs))
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=1.0))
    counts = state_counts(study.get_trials(deepcopy=False))
    assert {k: n for k, n in counts.items() if n} == {"complete": 1, "pruned": 2, "paused": 1}
