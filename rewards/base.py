"""What every feedback source provides."""

from __future__ import annotations

from typing import Protocol

from core.records import Feedback, Sample


class RewardSource(Protocol):
    name: str

    def score(self, samples: list[Sample]) -> list[Feedback]:
        """One Feedback per sample, in order; value None where the source abstains."""
        ...
