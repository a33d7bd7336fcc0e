"""What ``hydratune steer`` prints: data shown as written (never as terminal markup), short
worker ids, 80 columns."""

from __future__ import annotations

import pytest

from helpers import load, run_steer
from hydratune.steering import read_state


@pytest.mark.cli
def test_a_user_name_with_markup_is_printed_as_written_by_steer_and_show(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=1"])
    sweep_dir = tmp_path / "sweeps" / "quadratic"
    done = run_steer(tmp_path, sweep_dir, "fix", "kind=b", LOGNAME="[/i]", USER="[/i]")
    assert done.returncode == 0, done.stderr  # it crashed after writing: a retry wrote twice
    assert "by [/i]@" in done.stdout
    assert len(read_state(load("quadratic", tmp_path).user_attrs).actions) == 1
    shown = run_steer(tmp_path, sweep_dir, "show")  # every later reader, too
    assert shown.returncode == 0, shown.stderr
    assert "[/i]@" in shown.stdout and "fixed: kind=b" in shown.stdout


@pytest.mark.cli
def test_an_error_quoting_markup_is_printed_as_written(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=1"])
    refused = run_steer(tmp_path, tmp_path / "sweeps/quadratic", "fix", "kind='[/i]'")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "kind='[/i]', not one of the choices" in refused.stderr


@pytest.mark.cli
def test_a_note_with_control_characters_is_confirmed_on_one_escaped_line(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=1"])
    done = run_steer(tmp_path, "sweeps/quadratic", "note", "0", "x\x1b[2Jy")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert "note #0: x\\x1b[2Jy (by " in done.stdout  # as show and the log write it
