"""GRPO (Shao et al. 2024) and RLOO (Ahmadian et al. 2024): a clipped policy gradient on group-relative
advantages, importance-weighted against the generator's log-probs, plus kl_coef x the k3 KL to the
reference; normalised by the step's token count. They differ only in the advantage (rewards/signals.py)."""

from __future__ import annotations

import torch

from core.config import AlgorithmConfig
from learner.algorithms.base import Algorithm
from learner.objectives import LearnerBatch, MicroBatch, SequenceObjective
from learner.policy_gradient import kl_estimate, ppo_policy_loss
from rewards.signals import grpo_signal, rloo_signal


class GroupPolicyGradient(SequenceObjective):
    def __init__(self, cfg: AlgorithmConfig):
        self.kl_coef, self.clip_eps = cfg.kl_coef, cfg.clip_eps

    def normaliser(self, batch: LearnerBatch) -> int:
        return max(1, sum(len(s.response_token_ids) for s in batch.samples))

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        advantages = mb.advantages.unsqueeze(-1) * mb.mask
        pg_loss, clip_fraction = ppo_policy_loss(policy, mb.behaviour, advantages, mb.mask, self.clip_eps, count)
        kl = kl_estimate(policy, mb.reference, "k3")
        kl_loss = (kl * mb.mask).sum() / count
        mean_kl = ((kl * mb.mask).sum() / mb.mask.sum().clamp(min=1)).item()
        return pg_loss + self.kl_coef * kl_loss, {"clip_fraction": clip_fraction.item(), "kl_per_token": mean_kl}


GRPO = Algorithm("grpo", grpo_signal, GroupPolicyGradient, uses_beta=False, compares_samples=True)
RLOO = Algorithm("rloo", rloo_signal, GroupPolicyGradient, uses_beta=False, compares_samples=True)
