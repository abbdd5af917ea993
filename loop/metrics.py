"""Metrics, one row per step or evaluation: to metrics.jsonl (the run folder's own record) and to the trackers
logging.trackers adds (loop/trackers.py)."""

from __future__ import annotations

import json
from pathlib import Path

from loop.trackers import Tracker, finish_trackers, numbers


class MetricsLog:
    def __init__(self, folder: Path, trackers: list[Tracker]):
        """trackers: loop/trackers.open_trackers's, closed with this log."""
        self.path = folder / "metrics.jsonl"
        self._file = self.path.open("a")
        self._trackers = trackers

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
        finish_trackers(self._trackers, list(artifacts))
