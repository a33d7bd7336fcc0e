"""``hydra.sweeper.custom_search_space`` hooks for a Ctrl-C that reaches a child process too,
as a terminal's does: at trial 1 the sweep gets SIGINT while the hook waits on a command, and
the command, killed by the same signal, fails with its own error (or its pipe breaks)."""

from __future__ import annotations

import os
import signal
import subprocess


def child_killed_by_ctrl_c(cfg, trial) -> None:  # noqa: ANN001
    if trial.number == 1:
        os.kill(os.getpid(), signal.SIGINT)
        raise subprocess.CalledProcessError(-signal.SIGINT, ["sbatch"])


def pipe_broken_by_ctrl_c(cfg, trial) -> None:  # noqa: ANN001
    if trial.number == 1:
        os.kill(os.getpid(), signal.SIGINT)
        raise BrokenPipeError("the command's pipe, closed by the same Ctrl-C")
