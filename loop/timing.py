"""Seconds spent per phase of the loop (generate, score, reference, learn, sync, other)."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

PHASES = ("generate", "score", "reference", "learn", "sync", "evaluate", "checkpoint")


class PhaseTimer:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.started = time.perf_counter()
        self.last_lap = self.totals()

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def restore(self, totals: dict[str, float]) -> None:
        """Continue from a resumed run's totals (the time before the crash counts, the lost part does not)."""
        self.seconds = defaultdict(float, {name: totals[name] for name in PHASES if name in totals})
        self.started = time.perf_counter() - totals.get("total", 0.0)
        self.last_lap = self.totals()

    def lap(self) -> dict[str, float]:
        """Seconds per phase since the previous lap (a training step's phases), 'total' included."""
        now = self.totals()
        since = {name: round(now[name] - self.last_lap[name], 3) for name in now
                 if name not in ("evaluate", "checkpoint")}
        self.last_lap = now
        return since

    def totals(self) -> dict[str, float]:
        """Every phase, plus 'other' (all wall time outside the named phases) and 'total'."""
        total = time.perf_counter() - self.started
        out = {name: round(self.seconds.get(name, 0.0), 3) for name in PHASES}
        out["other"] = round(total - sum(self.seconds.values()), 3)
        out["total"] = round(total, 3)
        return out
