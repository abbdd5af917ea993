"""The feedback oracle: hosts a reward source (rule, reward model, judge) next to the other actors."""

from __future__ import annotations

from actors.rollout_pool import RolloutPool
from core.config import RewardConfig
from core.memory import ReportsMemory
from core.records import Feedback, LabelledPair, Sample
from rewards import build_reward_source
from rewards.judge_agreement import JudgeAgreement, measure, score_verdicts


class Oracle(ReportsMemory):
    def __init__(self, cfg: RewardConfig, judge: RolloutPool | None = None, judge_path: str = ""):
        """judge, judge_path: an LLM judge's vLLM engines and model (the policy's own for self_judge)."""
        self.source = build_reward_source(cfg, judge, judge_path)

    def score(self, samples: list[Sample]) -> list[Feedback]:
        feedback = self.source.score(samples)
        if len(feedback) != len(samples):
            raise RuntimeError(f"reward source {self.source.name} answered {len(feedback)} of {len(samples)} samples")
        return feedback

    def judge_pairs(self, pairs: list[LabelledPair]) -> JudgeAgreement:
        """How the source judges pairs whose better response is known: a judge comparing two responses says so
        in both orders (compare); any other source scores each response."""
        compare = getattr(self.source, "compare", None)
        return measure(pairs, compare(pairs) if compare else score_verdicts(self.source, pairs))
