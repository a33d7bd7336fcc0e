"""The quadratic test objective as a command-line Hydra app, for tests that kill real sweeps.

With ``HANG_AT_TRIAL=N`` and ``HANG_MARKER=path`` set, trial N writes its process id to the
marker file and then hangs until the test kills or interrupts it. With ``GATE_DIR=path`` set,
every trial waits at a gate in that directory until the test releases it (``wait_at_gate``).
For the fault-injection suite: ``TRIAL_PIDS=dir`` makes each trial write its process id to
``dir/<trial>``, ``TRIAL_SECONDS=s`` makes each trial last that long, ``EXIT_AT_TRIAL=N``
makes trial N call ``sys.exit(3)``, ``CTRL_C_IN_CLEANUP_AT_TRIAL=N`` makes trial N get Ctrl-C
and raise ``BrokenPipeError`` in place of its ``KeyboardInterrupt`` (a child killed by it).
``LOADED_TORCH=path`` makes the app's own process (the sweeper's) write to ``path`` whether it
had loaded torch when it exits. ``SIGNAL_WHEN_OPENING=<name>:<signal>`` makes the app's own
process get that signal (``SIGINT``, ``SIGTERM``) the first time it opens a file whose path
holds the name (``optimization_results.yaml``: once the last trial has ended, as the sweep
writes its results), from the kernel, as a user's Ctrl-C arrives.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

sys.path.insert(0, str(Path(__file__).parents[1]))
from helpers import quadratic, wait_at_gate  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="quadratic")
def main(cfg: DictConfig) -> float:
    number = OmegaConf.select(HydraConfig.get(), "job.num")  # None in a single run (a rerun)
    if "TRIAL_PIDS" in os.environ:
        (Path(os.environ["TRIAL_PIDS"]) / str(number)).write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("TRIAL_SECONDS", 0)))  # a trial that takes time
    if os.environ.get("EXIT_AT_TRIAL") == str(number):
        sys.exit(3)
    if os.environ.get("CTRL_C_IN_CLEANUP_AT_TRIAL") == str(number):
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            raise BrokenPipeError("a child's pipe, closed by the same Ctrl-C") from None
    hang_at = os.environ.get("HANG_AT_TRIAL")
    if hang_at is not None and number == int(hang_at):
        Path(os.environ["HANG_MARKER"]).write_text(str(os.getpid()))
        time.sleep(600)  # the trial hangs here until the test kills the sweep
    if "GATE_DIR" in os.environ:
        wait_at_gate(Path(os.environ["GATE_DIR"]), number)
    return quadratic(cfg)


def _signal_when_opening(name: str, signum: int) -> None:
    sent: list[bool] = []

    def hook(event: str, args: tuple) -> None:
        if event == "open" and not sent and name in str(args[0]):
            sent.append(True)
            os.kill(os.getpid(), signum)

    sys.addaudithook(hook)


def _record_torch(path: Path) -> None:
    path.write_text(str("torch" in sys.modules))


if __name__ == "__main__":
    if "SIGNAL_WHEN_OPENING" in os.environ:
        name, _, signame = os.environ["SIGNAL_WHEN_OPENING"].rpartition(":")
        _signal_when_opening(name, signal.Signals[signame])
    if "LOADED_TORCH" in os.environ:
        atexit.register(_record_torch, Path(os.environ["LOADED_TORCH"]))
    main()
