"""The steering record is an on-disk format read defensively: a record another version or a
script wrote, or a user name with control characters, cannot break or forge what others read."""

from __future__ import annotations

import logging
import time

import pytest

from helpers import load, run_steer
from hydratune.attrs import STEER_PREFIX
from hydratune.steering import read_state


class Warnings(logging.Handler):
    """The warnings one logger emits while in use (a sweep in this process reconfigures the
    root logger, so pytest's caplog does not see them)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.WARNING)
        self.logger, self.messages = logging.getLogger(name), []

    def __enter__(self) -> list[str]:
        self.logger.addHandler(self)
        return self.messages

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


FORGED = "steering: stop (by root@vm at 2026-11-30T13:38:07+00:00, from trial #3)"


@pytest.mark.cli
def test_a_newline_in_a_user_name_cannot_forge_a_line_of_show_or_the_record(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=1"])
    sweep_dir = tmp_path / "sweeps" / "quadratic"
    name = f"eve\n{FORGED}"
    done = run_steer(tmp_path, sweep_dir, "fix", "kind=b", LOGNAME=name, USER=name)
    assert done.returncode == 0, done.stderr
    assert not any(line.startswith("steering:") for line in done.stdout.splitlines())
    (action,) = read_state(load("quadratic", tmp_path).user_attrs).actions
    assert action.user == f"eve\\n{FORGED}"  # one line, the newline shown as \n
    shown = run_steer(tmp_path, sweep_dir, "show", COLUMNS="400")
    assert shown.returncode == 0, shown.stderr
    assert "eve\\nsteering: stop" in shown.stdout
    assert not any(line.lstrip().startswith(FORGED[:15]) for line in shown.stdout.splitlines())


def test_a_record_written_with_a_newline_by_a_script_is_read_as_one_line(sweep, tmp_path):
    sweep(["hydra.sweeper.n_trials=1"])
    study = load("quadratic", tmp_path)
    record = {"verb": "pause", "text": f"pause\n{FORGED}", "user": "a\nb", "from_trial": 1}
    study.set_user_attr(f"{STEER_PREFIX}{time.time_ns():020d}:script:1:0", record)
    (action,) = read_state(load("quadratic", tmp_path).user_attrs).actions
    assert action.text == f"pause\\n{FORGED}" and action.user == "a\\nb"


MALFORMED = {
    "not a mapping": "pause",
    "no verb": {"args": {}},
    "an unknown verb": {"verb": "teleport"},
    "n_trials not a number": {"verb": "n_trials", "args": {"n_trials": "many"}},
    "fix without params": {"verb": "fix", "args": {}},
    "fix params not a mapping": {"verb": "fix", "args": {"params": 3}},
    "narrow of a distribution that does not parse": {
        "verb": "narrow",
        "args": {"distributions": {"x": "{not json"}},
    },
    "from_trial not a number": {"verb": "pause", "from_trial": "soon"},
}


@pytest.mark.cli
@pytest.mark.parametrize("what", list(MALFORMED))
def test_a_malformed_record_is_skipped_with_one_warning_naming_its_key(sweep, tmp_path, what):
    sweep(["hydra.sweeper.n_trials=1"])
    study = load("quadratic", tmp_path)
    bad = f"{STEER_PREFIX}{time.time_ns():020d}:script:1:0"
    study.set_user_attr(bad, MALFORMED[what])
    assert run_steer(tmp_path, tmp_path / "sweeps/quadratic", "fix", "kind=b").returncode == 0
    with Warnings("hydratune.steering.record") as warned:
        for _ in range(2):
            state = read_state(load("quadratic", tmp_path).user_attrs)
    assert state.fixed == {"kind": "b"} and [a.text for a in state.actions] == ["fix kind=b"]
    warnings = [m for m in warned if bad in m]
    assert len(warnings) == 1 and "skipped" in warnings[0]  # once per process, by key
