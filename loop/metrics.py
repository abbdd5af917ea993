"""Metrics to JSON lines (metrics.jsonl) and TensorBoard, one row per step or evaluation."""

from __future__ import annotations

import json
from pathlib import Path


class MetricsLog:
    def __init__(self, folder: Path, resume_after_step: int | None = None):
        """resume_after_step: a resumed run's last logged step; TensorBoard drops events after it."""
        from torch.utils.tensorboard import SummaryWriter

        self.path = folder / "metrics.jsonl"
        self._file = self.path.open("a")
        purge = None if resume_after_step is None else resume_after_step + 1
        self._tensorboard = SummaryWriter(str(folder / "tensorboard"), purge_step=purge)

    def bytes_written(self) -> int:
        return self._file.tell()

    def log(self, step: int, values: dict[str, float]) -> None:
        self._file.write(json.dumps({"step": step, **values}) + "\n")
        self._file.flush()
        for key, value in values.items():
            if isinstance(value, (int, float)):
                self._tensorboard.add_scalar(key, value, step)

    def close(self) -> None:
        self._file.close()
        self._tensorboard.close()
