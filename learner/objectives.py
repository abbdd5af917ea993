"""What the learner minimises, per algorithm: micro-batching units, the step's normaliser, the loss.

The learner is the same for all of them (learner/engine.py); an objective says which samples must share
a micro-batch (a pair), what count normalises the step (sequences, pairs or tokens), and the loss of
one micro-batch from the policy's token log-probs. The formulas live in losses.py / policy_gradient.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch

from core.config import AlgorithmConfig
from core.records import Sample
from learner.batch import TokenBatch, at_response_positions, collate
from learner.losses import (
    dpo_loss,
    ipo_loss,
    kto_loss,
    kto_reference_point,
    masked_mean,
    rdpo_loss,
    sequence_log_ratio,
    simpo_loss,
    una_binary_loss,
    una_score_loss,
)
from learner.policy_gradient import kl_estimate, ppo_policy_loss


@dataclass
class LearnerBatch:
    """One optimizer step's input. values[i]: sample i's score target, binary label or advantage."""

    samples: list[Sample]
    reference_logprobs: list[list[float]]
    values: list[float]
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (chosen, rejected) sample indices
    # KTO: responses paired with other samples' prompts, and their reference log-probs (for z_ref)
    mismatched: list[Sample] = field(default_factory=list)
    mismatched_reference_logprobs: list[list[float]] = field(default_factory=list)


@dataclass
class MicroBatch:
    tokens: TokenBatch
    reference: torch.Tensor  # (B, T-1) reference log-probs at response positions, 0 elsewhere
    behaviour: torch.Tensor  # (B, T-1) the generator's log-probs of the sampled tokens
    values: torch.Tensor  # (B,)
    chosen: torch.Tensor  # local row indices of chosen responses (pairwise objectives)
    rejected: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        return self.tokens.response_mask

    def to(self, device: torch.device | str) -> MicroBatch:
        tensors = {f.name: getattr(self, f.name).to(device) for f in fields(self)}
        return MicroBatch(**tensors)


def make_micro_batch(batch: LearnerBatch, units: list[list[int]], pad_token_id: int) -> MicroBatch:
    rows = [i for unit in units for i in unit]
    tokens = collate([batch.samples[i] for i in rows], pad_token_id)
    local = {index: position for position, index in enumerate(rows)}
    pairs = [(local[c], local[r]) for c, r in batch.pairs if c in local]
    return MicroBatch(
        tokens=tokens,
        reference=at_response_positions(tokens, [batch.reference_logprobs[i] for i in rows]),
        behaviour=at_response_positions(tokens, [batch.samples[i].behaviour_logprobs for i in rows]),
        values=torch.tensor([batch.values[i] for i in rows], dtype=torch.float32),
        chosen=torch.tensor([c for c, _ in pairs], dtype=torch.long),
        rejected=torch.tensor([r for _, r in pairs], dtype=torch.long),
    )


def zero_loss(engine) -> torch.Tensor:
    """A loss of exactly 0 that still reaches every parameter (keeps DeepSpeed's accumulation count)."""
    return sum(p.sum() for p in engine.module.parameters()) * 0.0


class SequenceObjective:
    """Objectives over single sequences, normalised by the step's sequence count."""

    def units(self, batch: LearnerBatch) -> list[list[int]]:
        return [[i] for i in range(len(batch.samples))]

    def normaliser(self, batch: LearnerBatch) -> int:
        return len(batch.samples)


class UnaScore(SequenceObjective):
    def __init__(self, beta: float):
        self.beta = beta

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        loss, stats = una_score_loss(policy, mb.reference, mb.mask, mb.values, self.beta, count)
        return loss, {"implicit_score": stats["implicit_score"].mean().item(), "log_ratio": stats["log_ratio"].mean().item()}


class UnaBinary(SequenceObjective):
    def __init__(self, beta: float, form: str):
        self.beta, self.form = beta, form

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        ratio = sequence_log_ratio(policy, mb.reference, mb.mask)
        loss = una_binary_loss(ratio, mb.values, self.beta, count, self.form)
        return loss, {"implicit_score": torch.sigmoid(self.beta * ratio).mean().item(), "log_ratio": ratio.mean().item()}


class Kto(SequenceObjective):
    """KTO with its reference point z_ref from the batch's mismatched (prompt, response) pairs."""

    def __init__(self, cfg: AlgorithmConfig):
        self.cfg = cfg
        self.z_ref = torch.tensor(0.0)

    def prepare(self, batch: LearnerBatch, policy_sequence_logprobs) -> None:
        if not batch.mismatched:
            raise ValueError("KTO needs mismatched samples for its reference point (LearnerBatch.mismatched)")
        policy = policy_sequence_logprobs(batch.mismatched)
        ratios = [sum(p) - sum(r) for p, r in zip(policy, batch.mismatched_reference_logprobs)]
        self.z_ref = kto_reference_point(torch.tensor(ratios))

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        ratio = sequence_log_ratio(policy, mb.reference, mb.mask)
        loss = kto_loss(ratio, mb.values, self.z_ref, self.cfg.beta, count,
                        self.cfg.kto_lambda_desirable, self.cfg.kto_lambda_undesirable)
        return loss, {"z_ref": self.z_ref.item(), "log_ratio": ratio.mean().item()}


class Pairwise:
    """The DPO family (dpo, ipo, simpo, rdpo), and UNA with pairwise feedback (DPO's loss exactly);
    normalised by the step's pair count."""

    def __init__(self, cfg: AlgorithmConfig):
        self.cfg = cfg
        self.kind = "dpo" if cfg.name == "una" else cfg.name

    def units(self, batch: LearnerBatch) -> list[list[int]]:
        return [[c, r] for c, r in batch.pairs]

    def normaliser(self, batch: LearnerBatch) -> int:
        return len(batch.pairs)

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, c, r = self.cfg, mb.chosen, mb.rejected
        if self.kind == "simpo":  # reference-free: per-token mean log-probs of the policy
            margin = masked_mean(policy, mb.mask)
            loss = simpo_loss(margin[c], margin[r], cfg.beta, cfg.simpo_gamma, count)
        elif self.kind == "ipo":  # per-token mean log-ratios
            margin = masked_mean(policy - mb.reference, mb.mask)
            loss = ipo_loss(margin[c], margin[r], cfg.beta, count)
        else:
            margin = sequence_log_ratio(policy, mb.reference, mb.mask)
            if self.kind == "rdpo":
                lengths = mb.mask.sum(dim=-1)
                loss = rdpo_loss(margin[c], margin[r], lengths[c], lengths[r], cfg.beta, cfg.rdpo_alpha, count)
            else:
                label_smoothing = cfg.label_smoothing if cfg.name == "dpo" else 0.0
                loss = dpo_loss(margin[c], margin[r], cfg.beta, count, label_smoothing)
        accuracy = (margin[c] > margin[r]).float().mean().item()
        return loss, {"reward_margin": (cfg.beta * (margin[c] - margin[r])).mean().item(), "pair_accuracy": accuracy}


class GroupPolicyGradient(SequenceObjective):
    """GRPO / RLOO: clipped policy gradient on group advantages (values), importance-weighted against the
    generator's log-probs, plus kl_coef * k3 KL to the reference; normalised by the step's token count."""

    def __init__(self, kl_coef: float, clip_eps: float):
        self.kl_coef, self.clip_eps = kl_coef, clip_eps

    def normaliser(self, batch: LearnerBatch) -> int:
        return max(1, sum(len(s.response_token_ids) for s in batch.samples))

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        advantages = mb.values.unsqueeze(-1) * mb.mask
        pg_loss, clip_fraction = ppo_policy_loss(policy, mb.behaviour, advantages, mb.mask, self.clip_eps, count)
        kl = kl_estimate(policy, mb.reference, "k3")
        kl_loss = (kl * mb.mask).sum() / count
        mean_kl = ((kl * mb.mask).sum() / mb.mask.sum().clamp(min=1)).item()
        return pg_loss + self.kl_coef * kl_loss, {"clip_fraction": clip_fraction.item(), "kl_per_token": mean_kl}


def build_objective(cfg: AlgorithmConfig):
    if cfg.name == "una" and cfg.feedback == "score":
        return UnaScore(cfg.beta)
    if cfg.name == "una" and cfg.feedback == "binary":
        return UnaBinary(cfg.beta, cfg.una_binary_form)
    if cfg.pairwise:
        return Pairwise(cfg)
    if cfg.name in ("grpo", "rloo"):
        return GroupPolicyGradient(cfg.kl_coef, cfg.clip_eps)
    if cfg.name == "kto":
        return Kto(cfg)
    raise ValueError(f"algorithm.name {cfg.name!r} with feedback {cfg.feedback!r} has no objective")
