"""The feedback oracle: hosts a reward source (rule, reward model, judge) next to the other actors."""

from __future__ import annotations

from actors.rollout_pool import RolloutPool
from core.config import RewardConfig
from core.memory import ReportsMemory
from core.records import Feedback, Sample
from rewards import build_reward_source


class Oracle(ReportsMemory):
    def __init__(self, cfg: RewardConfig, judge: RolloutPool | None = None, judge_path: str = ""):
        """judge, judge_path: an LLM judge's vLLM engines and model (the policy's own for self_judge)."""
        self.source = build_reward_source(cfg, judge, judge_path)

    def score(self, samples: list[Sample]) -> list[Feedback]:
        feedback = self.source.score(samples)
        if len(feedback) != len(samples):
            raise RuntimeError(f"reward source {self.source.name} answered {len(feedback)} of {len(samples)} samples")
        return feedback
