"""Feedback sources and the mapping of their judgements to learning targets."""

from __future__ import annotations

from core.config import RewardConfig
from rewards.base import RewardSource


def build_reward_source(cfg: RewardConfig, judge_engine=None, judge_path: str = "") -> RewardSource:
    """judge_engine (a rewards.judge.JudgeEngine), judge_path: the LLM judge's engine and model, for
    self_judge (the policy's own) and llm_judge (a separate judge model's)."""
    from rewards.function import FunctionReward, exact_match_rule, length_rule, load_function, regex_rule

    if cfg.kind == "letter_share":
        from rewards.letter_share import LetterShareReward

        return LetterShareReward(cfg.target_letter)
    if cfg.kind == "reward_model":
        from rewards.reward_model import RewardModelSource

        if not cfg.model_path:
            raise ValueError("reward.model_path is empty: launch.py builds the tiny reward model into it")
        return RewardModelSource(cfg.model_path, cfg.batch_size)
    if cfg.kind in ("self_judge", "llm_judge"):
        from rewards.judge import LLMJudge

        if judge_engine is None:
            raise ValueError(f"reward.kind {cfg.kind} needs a judge engine (actors/group.py starts it)")
        return LLMJudge(judge_engine, judge_path, cfg.judge, cfg.kind)
    if cfg.kind == "function":
        return FunctionReward(load_function(cfg.function), cfg.function, cfg.concurrency, cfg.timeout_s)
    if cfg.kind == "exact_match":
        return FunctionReward(exact_match_rule, "exact_match", cfg.concurrency)
    if cfg.kind == "regex":
        return FunctionReward(regex_rule(cfg.pattern), f"regex[{cfg.pattern}]", cfg.concurrency)
    if cfg.kind == "length":
        return FunctionReward(length_rule(cfg.target_words), f"length[{cfg.target_words}]", cfg.concurrency)
    if cfg.kind == "remote":
        from rewards.remote import RemoteReward

        return RemoteReward(cfg.url, cfg.timeout_s, cfg.retries)
    raise ValueError(f"reward.kind {cfg.kind!r} is not known")
