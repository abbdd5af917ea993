"""The feedback oracle: hosts a reward source (rule, reward model, judge) next to the other actors."""

from __future__ import annotations

from core.config import RewardConfig
from core.memory import ReportsMemory
from core.records import Feedback, Sample
from rewards import build_reward_source


class Oracle(ReportsMemory):
    def __init__(self, cfg: RewardConfig, policy_engine=None, policy_path: str = ""):
        self.source = build_reward_source(cfg, policy_engine, policy_path)

    def score(self, samples: list[Sample]) -> list[Feedback]:
        feedback = self.source.score(samples)
        if len(feedback) != len(samples):
            raise RuntimeError(f"reward source {self.source.name} answered {len(feedback)} of {len(samples)} samples")
        return feedback
