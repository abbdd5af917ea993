"""GRPO (Shao et al. 2024) and RLOO (Ahmadian et al. 2024): a policy gradient on group-relative advantages,
plus kl_coef x the k3 KL to the reference; normalised by the step's token count. They differ only in the
advantage (rewards/signals.py).

One optimizer step per batch, so GRPO's clipped ratio against the policy before the update is always 1 (its
clip never acts); what can differ is the generator: a sample drawn max_staleness versions ago, or by vLLM's
numerics. Each token's gradient is weighted by min(pi_prox / pi_behav, algorithm.importance_cap) (truncated
importance sampling, learner/policy_gradient.py), which is 1 for a fresh sample with matching numerics."""

from __future__ import annotations

import torch

from core.config import AlgorithmConfig
from learner.algorithms.base import Algorithm
from learner.objectives import LearnerBatch, MicroBatch, SequenceObjective
from learner.policy_gradient import kl_estimate, truncated_is_policy_loss
from rewards.signals import grpo_signal, rloo_signal


class GroupPolicyGradient(SequenceObjective):
    def __init__(self, cfg: AlgorithmConfig):
        self.kl_coef, self.cap = cfg.kl_coef, cfg.importance_cap

    def normaliser(self, batch: LearnerBatch) -> int:
        return max(1, sum(len(s.response_token_ids) for s in batch.samples))

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        advantages = mb.advantages.unsqueeze(-1) * mb.mask
        pg_loss, truncated = truncated_is_policy_loss(policy, mb.behaviour, advantages, mb.mask, self.cap, count)
        kl = kl_estimate(policy, mb.reference, "k3")
        kl_loss = (kl * mb.mask).sum() / count
        mean_kl = ((kl * mb.mask).sum() / mb.mask.sum().clamp(min=1)).item()
        return pg_loss + self.kl_coef * kl_loss, {"truncated_fraction": truncated.item(), "kl_per_token": mean_kl}


GRPO = Algorithm("grpo", grpo_signal, GroupPolicyGradient, uses_beta=False, compares_samples=True)
RLOO = Algorithm("rloo", rloo_signal, GroupPolicyGradient, uses_beta=False, compares_samples=True)
