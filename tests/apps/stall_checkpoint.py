"""A Lightning ``CheckpointIO`` for tests that kill a process while it writes a checkpoint.

While the FIFO named by ``fifo`` exists, a run that continues from a checkpoint (``resumed``
set: give it ``${ckpt_path}``) writes the first half of its checkpoint's bytes to the file
Lightning is writing, records its process id in ``marker``, and then blocks
opening the FIFO for reading: a FIFO opens only once a writer opens it too, which the test
never does, so the process sits mid-write until the test kills it. Every other write, and
every write once the FIFO is gone, is Lightning's own.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


class StallMidWrite(TorchCheckpointIO):
    def __init__(self, fifo: str, marker: str, resumed: str | None = None) -> None:
        super().__init__()
        self.fifo, self.marker, self.resumed = Path(fifo), Path(marker), resumed

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options=None) -> None:  # noqa: ANN001
        if not self.resumed or not self.fifo.exists():
            return super().save_checkpoint(checkpoint, path, storage_options)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        data = buffer.getvalue()
        with open(path, "wb") as file:
            file.write(data[: len(data) // 2])
            file.flush()
            os.fsync(file.fileno())
            self.marker.write_text(str(os.getpid()))
            with open(self.fifo):  # blocks: the test kills this process here
                pass
            file.write(data[len(data) // 2 :])
