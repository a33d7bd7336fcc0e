"""``hydratune rerun``'s loop over seeds: a failed seed is a result, an interrupt ends it."""

from __future__ import annotations

import os
import signal

import pytest

from helpers import load, quadratic
from hydratune.execute import interrupt_handlers
from hydratune.insight import rerun_top_trials


def test_ctrl_c_whose_interrupt_an_error_in_cleanup_replaced_still_ends_the_rerun(sweep, tmp_path):
    """The signal's KeyboardInterrupt can strike inside code whose cleanup then fails (a
    half-built OmegaConf node, in a clean clone's CI): the error that surfaces is an ordinary
    exception, which alone would be one failed seed, and the rerun would train on."""
    sweep(["hydra.sweeper.n_trials=2"])
    seeds = []

    def task(cfg):
        seeds.append(cfg.seed)
        if len(seeds) == 2:
            try:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while this run trains
            except KeyboardInterrupt:
                raise AttributeError("cleanup failed") from None
        return quadratic(cfg)

    # as a terminal has it: a job started from a non-interactive shell inherits it ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with interrupt_handlers(), pytest.raises(KeyboardInterrupt):
            sweep_dir = tmp_path / "sweeps" / "quadratic"
            rerun_top_trials(load("quadratic", tmp_path), sweep_dir, 1, 5, tmp_path / "rerun", task)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(seeds) == 2  # no run after the interrupted one
