"""A Lightning callback for tests that interrupt training: with ``HANG_AT_TRIAL=N`` and
``HANG_MARKER=path`` set, trial N writes its process id to the marker at its first training
batch and then hangs inside ``trainer.fit`` until the test signals or kills it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig


class HangInTraining(L.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        if HydraConfig.get().job.num == int(os.environ["HANG_AT_TRIAL"]):
            Path(os.environ["HANG_MARKER"]).write_text(str(os.getpid()))
            time.sleep(600)  # the trial hangs here, inside Lightning, until the test stops it
