"""The DPO family on (chosen, rejected) pairs: DPO / cDPO, IPO, SimPO, R-DPO; normalised by the step's pair
count. Each differs only in the margin it compares and the loss on it."""

from __future__ import annotations

import torch

from core.config import AlgorithmConfig
from learner.algorithms.base import Algorithm
from learner.losses import dpo_loss, ipo_loss, masked_mean, rdpo_loss, sequence_log_ratio, simpo_loss
from learner.objectives import LearnerBatch, MicroBatch
from rewards.signals import pair_signal


class PairObjective:
    """Pairs share a micro-batch; subclasses give the per-sequence margin and the loss on (chosen, rejected)."""

    def __init__(self, cfg: AlgorithmConfig):
        self.cfg = cfg

    def units(self, batch: LearnerBatch) -> list[list[int]]:
        return [[c, r] for c, r in batch.signal.pairs]

    def normaliser(self, batch: LearnerBatch) -> int:
        return len(batch.signal.pairs)

    def prepare(self, batch: LearnerBatch, policy_sequence_logprobs) -> None:
        pass

    def margin(self, policy: torch.Tensor, mb: MicroBatch) -> torch.Tensor:
        return sequence_log_ratio(policy, mb.reference, mb.mask)

    def pair_loss(self, margin: torch.Tensor, mb: MicroBatch, count: int) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        margin = self.margin(policy, mb)
        c, r = mb.chosen, mb.rejected
        accuracy = (margin[c] > margin[r]).float().mean().item()
        stats = {"reward_margin": (self.cfg.beta * (margin[c] - margin[r])).mean().item(), "pair_accuracy": accuracy}
        return self.pair_loss(margin, mb, count), stats


class DpoPairs(PairObjective):
    def __init__(self, cfg: AlgorithmConfig, label_smoothing: float | None = None):
        super().__init__(cfg)
        self.label_smoothing = cfg.label_smoothing if label_smoothing is None else label_smoothing

    def pair_loss(self, margin: torch.Tensor, mb: MicroBatch, count: int) -> torch.Tensor:
        return dpo_loss(margin[mb.chosen], margin[mb.rejected], self.cfg.beta, count, self.label_smoothing)


class IpoPairs(PairObjective):
    def margin(self, policy: torch.Tensor, mb: MicroBatch) -> torch.Tensor:  # per-token mean log-ratios
        return masked_mean(policy - mb.reference, mb.mask)

    def pair_loss(self, margin: torch.Tensor, mb: MicroBatch, count: int) -> torch.Tensor:
        return ipo_loss(margin[mb.chosen], margin[mb.rejected], self.cfg.beta, count)


class SimpoPairs(PairObjective):
    def margin(self, policy: torch.Tensor, mb: MicroBatch) -> torch.Tensor:  # reference-free: mean log-probs
        return masked_mean(policy, mb.mask)

    def pair_loss(self, margin: torch.Tensor, mb: MicroBatch, count: int) -> torch.Tensor:
        return simpo_loss(margin[mb.chosen], margin[mb.rejected], self.cfg.beta, self.cfg.simpo_gamma, count)


class RdpoPairs(PairObjective):
    def pair_loss(self, margin: torch.Tensor, mb: MicroBatch, count: int) -> torch.Tensor:
        lengths, c, r = mb.mask.sum(dim=-1), mb.chosen, mb.rejected
        return rdpo_loss(margin[c], margin[r], lengths[c], lengths[r], self.cfg.beta, self.cfg.rdpo_alpha, count)


DPO = Algorithm("dpo", pair_signal, DpoPairs, compares_samples=True)
IPO = Algorithm("ipo", pair_signal, IpoPairs, compares_samples=True)
SIMPO = Algorithm("simpo", pair_signal, SimpoPairs, compares_samples=True)
RDPO = Algorithm("rdpo", pair_signal, RdpoPairs, compares_samples=True)
