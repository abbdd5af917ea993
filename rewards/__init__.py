"""Feedback sources and the mapping of their judgements to learning targets."""

from __future__ import annotations

from core.config import RewardConfig
from rewards.base import RewardSource


def build_reward_source(cfg: RewardConfig, policy_engine=None, policy_path: str = "") -> RewardSource:
    """policy_engine, policy_path: the rollout actor and model, for a policy that judges itself."""
    from rewards.function import FunctionReward, length_rule, load_function, regex_rule

    if cfg.kind == "letter_share":
        from rewards.letter_share import LetterShareReward

        return LetterShareReward(cfg.target_letter)
    if cfg.kind == "reward_model":
        from rewards.reward_model import RewardModelSource

        if not cfg.model_path:
            raise ValueError("reward.model_path is empty: launch.py builds the tiny reward model into it")
        return RewardModelSource(cfg.model_path, cfg.batch_size)
    if cfg.kind == "self_judge":
        from rewards.judge import DEFAULT_TEMPLATE, SelfJudge

        if policy_engine is None:
            raise ValueError("reward.kind self_judge needs the policy's rollout engine")
        import ray

        def next_token_logprobs(prefixes, candidates):
            return ray.get(policy_engine.next_token_logprobs.remote(prefixes, candidates))

        return SelfJudge(next_token_logprobs, policy_path, cfg.judge_template or DEFAULT_TEMPLATE, cfg.judge_max_tokens)
    if cfg.kind == "function":
        return FunctionReward(load_function(cfg.function), cfg.function, cfg.concurrency)
    if cfg.kind == "regex":
        return FunctionReward(regex_rule(cfg.pattern), f"regex[{cfg.pattern}]", cfg.concurrency)
    if cfg.kind == "length":
        return FunctionReward(length_rule(cfg.target_words), f"length[{cfg.target_words}]", cfg.concurrency)
    if cfg.kind == "remote":
        from rewards.remote import RemoteReward

        return RemoteReward(cfg.url, cfg.timeout_s, cfg.retries)
    raise ValueError(f"reward.kind {cfg.kind!r} is not known")
