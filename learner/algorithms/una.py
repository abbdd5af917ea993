"""UNA (Wang et al. 2024, arXiv 2408.15339): one supervised loss on the implicit reward
s_theta = sigmoid(beta * log-ratio) for score, binary and pairwise feedback; no value model."""

from __future__ import annotations

import torch

from core.config import AlgorithmConfig
from learner.algorithms.base import Algorithm
from learner.algorithms.dpo_family import DpoPairs
from learner.losses import sequence_log_ratio, una_binary_loss, una_score_loss
from learner.objectives import MicroBatch, SequenceObjective
from rewards.signals import label_signal, pair_signal, score_signal


class UnaScore(SequenceObjective):
    def __init__(self, cfg: AlgorithmConfig):
        self.beta = cfg.beta

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        loss, stats = una_score_loss(policy, mb.reference, mb.mask, mb.scores, self.beta, count)
        return loss, {"implicit_score": stats["implicit_score"].mean().item(), "log_ratio": stats["log_ratio"].mean().item()}


class UnaBinary(SequenceObjective):
    def __init__(self, cfg: AlgorithmConfig):
        self.beta, self.form = cfg.beta, cfg.una_binary_form

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        ratio = sequence_log_ratio(policy, mb.reference, mb.mask)
        loss = una_binary_loss(ratio, mb.labels, self.beta, count, self.form)
        return loss, {"implicit_score": torch.sigmoid(self.beta * ratio).mean().item(), "log_ratio": ratio.mean().item()}


SCORE = Algorithm("una", score_signal, UnaScore, feedback="score")
BINARY = Algorithm("una", label_signal, UnaBinary, feedback="binary")
# with pairwise feedback UNA's loss is DPO's exactly (the paper's equivalence), without label smoothing
PAIRWISE = Algorithm("una", pair_signal, lambda cfg: DpoPairs(cfg, label_smoothing=0.0), feedback="pairwise",
                     compares_samples=True)
