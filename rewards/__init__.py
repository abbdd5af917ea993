"""Feedback sources and the mapping of their judgements to learning targets."""

from __future__ import annotations

from core.config import RewardConfig
from rewards.base import RewardSource


def build_reward_source(cfg: RewardConfig) -> RewardSource:
    if cfg.kind == "letter_share":
        from rewards.letter_share import LetterShareReward

        return LetterShareReward(cfg.target_letter)
    raise ValueError(f"reward.kind {cfg.kind!r} is not known")
