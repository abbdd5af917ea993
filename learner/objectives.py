"""The learner's side of an algorithm: its batch, its micro-batches and the objective interface.

The learner is the same for every algorithm (learner/engine.py); an objective (in the algorithm's own file
under learner/algorithms/) says which samples must share a micro-batch (a pair), what count normalises the
step (sequences, pairs or tokens), any work before the step (KTO's reference point), and the loss of one
micro-batch from the policy's token log-probs. The formulas live in losses.py / policy_gradient.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Protocol

import torch

from core.records import Sample, Signal
from learner.batch import TokenBatch, at_response_positions, collate

SequenceLogprobs = Callable[[list[Sample]], list[list[float]]]  # the policy's response log-probs of samples


@dataclass
class LearnerBatch:
    """One optimizer step's input: the samples, their reference log-probs, and what to learn from them."""

    samples: list[Sample]
    reference_logprobs: list[list[float]]
    signal: Signal
    # KTO: responses paired with other samples' prompts, and their reference log-probs (for z_ref)
    mismatched: list[Sample] = field(default_factory=list)
    mismatched_reference_logprobs: list[list[float]] = field(default_factory=list)


@dataclass
class MicroBatch:
    tokens: TokenBatch
    reference: torch.Tensor  # (B, T-1) reference log-probs at response positions, 0 elsewhere
    behaviour: torch.Tensor  # (B, T-1) the generator's log-probs of the sampled tokens
    scores: torch.Tensor  # (B,) or empty: the Signal's fields for these rows
    labels: torch.Tensor
    advantages: torch.Tensor
    chosen: torch.Tensor  # local row indices of chosen responses (pairwise objectives)
    rejected: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        return self.tokens.response_mask

    def to(self, device: torch.device | str) -> MicroBatch:
        tensors = {f.name: getattr(self, f.name).to(device) for f in fields(self)}
        return MicroBatch(**tensors)


def make_micro_batch(batch: LearnerBatch, units: list[list[int]], pad_token_id: int, share: bool = False) -> MicroBatch:
    rows = [i for unit in units for i in unit]
    tokens = collate([batch.samples[i] for i in rows], pad_token_id, share)
    local = {index: position for position, index in enumerate(rows)}
    pairs = [(local[c], local[r]) for c, r in batch.signal.pairs if c in local]

    def per_row(values: list[float]) -> torch.Tensor:
        return torch.tensor([values[i] for i in rows] if values else [], dtype=torch.float32)

    return MicroBatch(
        tokens=tokens,
        reference=at_response_positions(tokens, [batch.reference_logprobs[i] for i in rows]),
        behaviour=at_response_positions(tokens, [batch.samples[i].behaviour_logprobs for i in rows]),
        scores=per_row(batch.signal.scores),
        labels=per_row(batch.signal.labels),
        advantages=per_row(batch.signal.advantages),
        chosen=torch.tensor([c for c, _ in pairs], dtype=torch.long),
        rejected=torch.tensor([r for _, r in pairs], dtype=torch.long),
    )


def zero_loss(engine) -> torch.Tensor:
    """A loss of exactly 0 that still reaches every parameter (keeps DeepSpeed's accumulation count), with zero
    gradients even where the weights are not finite."""
    return sum(p.sum() for p in engine.module.parameters()) * 0.0


def idle_loss(forward: Callable[[TokenBatch], torch.Tensor], device: torch.device) -> torch.Tensor:
    """A loss of exactly 0 for a micro-batch with no samples (a rank given fewer than the others, or none), from a
    forward pass over a two-token row: ZeRO-3 gathers each layer's parameters in the forward and reduces their
    gradients in the backward, collectively with the other ranks, which would wait forever for a rank that skipped
    the model."""
    tokens = torch.zeros(1, 2, dtype=torch.long, device=device)
    row = TokenBatch(tokens, torch.ones_like(tokens), torch.zeros(1, 1, device=device))
    return forward(row).float().sum() * 0.0


class Objective(Protocol):
    """What one update of the policy minimises (learner/one_update.py applies it)."""

    def units(self, batch: LearnerBatch) -> list[list[int]]:
        """Groups of sample indices that must share a micro-batch (a sample, or a pair)."""

    def normaliser(self, batch: LearnerBatch) -> int:
        """The whole step's count every micro-batch's loss is divided by (sequences, pairs or tokens)."""

    def prepare(self, batch: LearnerBatch, policy_sequence_logprobs: SequenceLogprobs) -> None:
        """Work before the step's micro-batches, with the policy as it is (KTO's reference point)."""

    def loss(self, policy: torch.Tensor, mb: MicroBatch, count: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one micro-batch from the policy's (B, T-1) token log-probs, and statistics to log."""


class SequenceObjective:
    """The base of objectives over single sequences, normalised by the step's sequence count."""

    def units(self, batch: LearnerBatch) -> list[list[int]]:
        return [[i] for i in range(len(batch.samples))]

    def normaliser(self, batch: LearnerBatch) -> int:
        return len(batch.samples)

    def prepare(self, batch: LearnerBatch, policy_sequence_logprobs: SequenceLogprobs) -> None:
        pass
