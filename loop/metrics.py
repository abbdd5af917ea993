"""Metrics, one row per step or evaluation: to metrics.jsonl (the run folder's own record) and to the trackers
logging.trackers adds (loop/trackers.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from core.config import LoggingConfig
from loop.trackers import Tracker, numbers, open_trackers

log = logging.getLogger(__name__)


class MetricsLog:
    def __init__(self, folder: Path, cfg: LoggingConfig, run_config: dict[str, Any], resume_after_step: int | None = None):
        """resume_after_step: a resumed run's last logged step."""
        self.path = folder / "metrics.jsonl"
        self._file = self.path.open("a")
        self._trackers: list[Tracker] = open_trackers(cfg, run_config, folder, resume_after_step)

    def bytes_written(self) -> int:
        return self._file.tell()

    def log(self, step: int, values: dict[str, float]) -> None:
        self._file.write(json.dumps({"step": step, **values}) + "\n")
        self._file.flush()
        row = numbers(values)
        for tracker in self._trackers:
            tracker.log(step, row)

    def close(self, artifacts: list[Path] = ()) -> None:
        """Idempotent; artifacts (the report, curves, summary) go to the trackers that keep files."""
        if self._file.closed:
            return
        self._file.close()
        for tracker in self._trackers:
            try:
                tracker.finish(list(artifacts))
            except Exception as err:  # the run's own files are written; a tracker's failure must not hide them
                log.error("closing the %s tracker failed: %s", type(tracker).__name__, err)
