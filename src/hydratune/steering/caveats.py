"""What a steering action will not do now, said to the person who wrote it (``hydratune steer``
and the page print it beside the recorded action): an action on a sweep that has ended, a point
or a space for new trials when ``n_trials`` lets none start, an ``n_trials`` the finished trials
already reach, ``fix`` or ``narrow`` under a checkpointed schedule, ``narrow`` under auto's GP."""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from hydratune.attrs import AUTO_SAMPLER
from hydratune.schedule import is_scheduled
from hydratune.schema import AUTO_UNREADABLE, parse_auto_choice
from hydratune.space import SearchSpace
from hydratune.steering.budget import (
    N_TRIALS_REACHED,
    finished_count,
    n_trials_in_force,
    why_ended,
)
from hydratune.steering.record import Action, read_state

# Verbs that act on trials yet to start (a queued point, the space they are drawn from)
FOR_NEW_TRIALS = ("enqueue", "fix", "unfix", "narrow")


def caveat(
    action: Action,
    study: optuna.Study,
    space: SearchSpace,
    declared_n_trials: int | None,
    sampler: str,
) -> str | None:
    """The notes on ``action`` in ``study`` (its recorded ``space``, ``n_trials`` and
    ``sampler``), or None when it applies as ``steer`` says."""
    if action.verb == "note":
        return None  # kept whatever the sweep does
    trials = study.get_trials(deepcopy=False)
    notes = [
        _when(action, trials, study, space, declared_n_trials, sampler),
        _schedule_caveat(action.verb, trials),
        _gp_caveat(action.verb, trials, study.user_attrs.get(AUTO_SAMPLER)),
    ]
    return "\n".join(note for note in notes if note) or None


def _when(
    action: Action,
    trials: list[FrozenTrial],
    study: optuna.Study,
    space: SearchSpace,
    declared_n_trials: int | None,
    sampler: str,
) -> str | None:
    """When ``action`` applies, or None if at once."""
    finished = finished_count(trials)
    n = action.args.get("n_trials") if action.verb == "n_trials" else None
    if n is not None and finished >= n:
        than = "more than" if finished > n else "as many as"
        return (
            f"note: {finished} trials have finished already, {than} n_trials {n}: no new "
            "trial starts (running ones finish)"
        )
    before = {k: v for k, v in study.user_attrs.items() if k != action.key}
    state = read_state(before, space)
    target = n_trials_in_force(declared_n_trials, state)
    ended = why_ended(trials, target, sampler, state.held)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    # as the loop counts: no trial starts once the running and finished reach n_trials
    if action.verb in FOR_NEW_TRIALS and isinstance(target, int) and finished + running >= target:
        now = (
            f"the sweep has finished ({finished} of n_trials {target})"
            if running == 0
            else f"every trial of n_trials {target} has started ({running} running)"
        )
        return (
            f"note: {now}: this applies to the trials that start once n_trials is raised "
            "(steer ... n_trials <more>, or the sweep's command with "
            "hydra.sweeper.n_trials=<more>)"
        )
    if ended is None:
        return None
    if action.verb == "n_trials" and ended != N_TRIALS_REACHED:
        return (
            f"note: the sweep has finished ({finished} of n_trials {target}; {ended}): a "
            "larger n_trials runs nothing more"
        )
    return (
        f"note: the sweep has finished ({finished} of n_trials {target}"
        f"{'; ' + ended if ended != N_TRIALS_REACHED else ''}) and no trial runs: this "
        "applies when the sweep's command runs again"
    )


def _gp_caveat(verb: str, trials: list[FrozenTrial], record: object) -> str | None:
    """Under ``sampler: auto``'s GP, what ``narrow`` does not reach: Optuna's GP models only
    the parameters every trial drew from one range, so a narrowed one is drawn at random."""
    if verb != "narrow" or record is None:
        return None
    try:
        choice = parse_auto_choice(record)
    except AUTO_UNREADABLE:
        return None
    if choice.sampler_at(len(trials)) != "gp":
        return None
    until = f" until trial {choice.switch_at} (TPE from then on models it)" if choice.then else ""
    return (
        "note: sampler auto runs Optuna's GP here, which models only parameters drawn from one "
        f"range in every trial: the narrowed one is drawn at random inside its new range{until}; "
        "to have it modelled now, run the sweep with hydra/sweeper/sampler=tpe"
    )


def _schedule_caveat(verb: str, trials: list[FrozenTrial]) -> str | None:
    """Under a checkpointed schedule, what ``fix`` and ``narrow`` do not reach: a run that
    continues a paused one trains on with its checkpoint's values (another configuration's
    values would not fit its weights), which PBT's explore changes only inside the declared
    space."""
    if verb not in ("fix", "narrow") or not any(map(is_scheduled, trials)):
        return None
    return (
        f"note: under this sweep's schedule, {verb} applies to new configurations: a run that "
        "continues a paused one keeps its values (PBT's explore perturbs them inside the "
        "declared space)"
    )
