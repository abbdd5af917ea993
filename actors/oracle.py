"""The feedback oracle: hosts a reward source (rule, reward model, judge) next to the other actors."""

from __future__ import annotations

import ray

from actors.calls import wait_one
from core.config import RewardConfig
from core.memory import ReportsMemory
from core.records import Feedback, Sample
from rewards import build_reward_source


class Oracle(ReportsMemory):
    def __init__(self, cfg: RewardConfig, judge_engine=None, judge_path: str = "", timeout_s: float = 1800.0):
        """judge_engine, judge_path: the vLLM actor and model of an LLM judge (the policy's own for self_judge)."""
        engine = RemoteJudgeEngine(judge_engine, timeout_s) if judge_engine is not None else None
        self.source = build_reward_source(cfg, engine, judge_path)

    def score(self, samples: list[Sample]) -> list[Feedback]:
        feedback = self.source.score(samples)
        if len(feedback) != len(samples):
            raise RuntimeError(f"reward source {self.source.name} answered {len(feedback)} of {len(samples)} samples")
        return feedback


class RemoteJudgeEngine:
    """rewards.judge.JudgeEngine over a RolloutEngine actor."""

    def __init__(self, handle: ray.actor.ActorHandle, timeout_s: float):
        self.handle, self.timeout_s = handle, timeout_s

    def next_token_logprobs(self, prefixes, candidates):
        ref = self.handle.next_token_logprobs.remote(prefixes, candidates)
        return wait_one(ref, "judge engine: next_token_logprobs", self.timeout_s)

    def sample_texts(self, prefixes, n, temperature, top_p, max_tokens, seeds):
        ref = self.handle.sample_texts.remote(prefixes, n, temperature, top_p, max_tokens, seeds)
        return wait_one(ref, "judge engine: sample_texts", self.timeout_s)
