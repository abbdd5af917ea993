"""KTO (Ethayarajh et al. 2024) on binary labels, with its reference point z_ref from the batch's
mismatched (prompt, response) pairs."""

from __future__ import annotations

import torch

from core.config import AlgorithmConfig
from learner.algorithms.base import Algorithm
from learner.losses import kto_loss, kto_reference_point, sequence_log_ratio
from learner.objectives import LearnerBatch, MicroBatch, SequenceLogprobs, SequenceObjective
from rewards.signals import label_signal


class Kto(SequenceObjective):
    def __init__(self, cfg: AlgorithmConfig):
        self.cfg = cfg
        self.z_ref = torch.tensor(0.0)

    def prepare(self, batch: LearnerBatch, policy_sequence_logprobs: SequenceLogprobs) -> None:
        if not batch.mismatched:
            raise ValueError("KTO needs mismatched samples for its reference point (LearnerBatch.mismatched)")
        policy = policy_sequence_logprobs(batch.mismatched)
        ratios = [sum(p) - sum(r) for p, r in zip(policy, batch.mismatched_reference_logprobs)]
        self.z_ref = kto_reference_point(torch.tensor(ratios))

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        ratio = sequence_log_ratio(policy, mb.reference, mb.mask)
        loss = kto_loss(ratio, mb.labels, self.z_ref, self.cfg.beta, count,
                        self.cfg.kto_lambda_desirable, self.cfg.kto_lambda_undesirable)
        return loss, {"z_ref": self.z_ref.item(), "log_ratio": ratio.mean().item()}


KTO = Algorithm("kto", label_signal, Kto, needs_mismatched=True)
