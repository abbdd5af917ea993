"""Samples to padded token tensors (right padding), with the response positions marked; optionally computed
as shared-prompt rows (learner/shared_prompts.py)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.records import Sample
from learner.shared_prompts import SharedRows, row_length, shared_rows


@dataclass
class TokenBatch:
    input_ids: torch.Tensor  # (B, T) prompt + response, right-padded
    attention_mask: torch.Tensor  # (B, T)
    response_mask: torch.Tensor  # (B, T-1): 1 where target token input_ids[:, t+1] is a response token
    shared: SharedRows | None = None  # what the model computes instead of input_ids, when samples share prompts

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def select(self, rows: torch.Tensor) -> TokenBatch:
        assert self.shared is None, "shared-prompt rows cannot be selected from: collate the selection instead"
        return TokenBatch(self.input_ids[rows], self.attention_mask[rows], self.response_mask[rows])

    def to(self, device: torch.device | str) -> TokenBatch:
        return TokenBatch(self.input_ids.to(device), self.attention_mask.to(device), self.response_mask.to(device),
                          self.shared.to(device) if self.shared is not None else None)


def collate(samples: list[Sample], pad_token_id: int, share: bool = False) -> TokenBatch:
    """share: samples with the same prompt computed as one row (learner/shared_prompts.py), when any do."""
    width = max(sequence_lengths(samples))
    input_ids = torch.full((len(samples), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(samples), width), dtype=torch.long)
    response_mask = torch.zeros((len(samples), width - 1), dtype=torch.float32)
    for row, sample in enumerate(samples):
        tokens = sample.prompt_token_ids + sample.response_token_ids
        input_ids[row, : len(tokens)] = torch.tensor(tokens)
        attention_mask[row, : len(tokens)] = 1
        start = len(sample.prompt_token_ids) - 1  # target index of the first response token
        response_mask[row, start : start + len(sample.response_token_ids)] = 1.0
    shared = None
    if share and len({tuple(s.prompt_token_ids) for s in samples}) < len(samples):
        shared = shared_rows(samples, width, pad_token_id)
    return TokenBatch(input_ids, attention_mask, response_mask, shared)


def pack_by_tokens(units: list[list[int]], samples: list[Sample], max_tokens: int,
                   share: bool = False) -> list[list[list[int]]]:
    """Micro-batches by a token budget: units (a sample, or a pair that must stay together) sorted longest
    first and packed while rows x the longest row (the padded size the model computes) stays within max_tokens;
    a unit over the budget gets a micro-batch of its own. A row is a sample, or with share a unit's shared-prompt
    row (units of one prompt merged first: shared_prompts.merge_by_prompt)."""
    lengths = sequence_lengths(samples)

    def shape(unit: list[int]) -> tuple[int, int]:
        return (1, row_length(samples, unit)) if share else (len(unit), max(lengths[i] for i in unit))

    packed: list[list[list[int]]] = []
    rows = width = 0
    for unit in sorted(units, key=lambda u: shape(u)[1], reverse=True):
        unit_rows, unit_width = shape(unit)
        if not packed or (rows + unit_rows) * width > max_tokens:
            packed.append([])
            rows, width = 0, unit_width  # the first unit of a micro-batch is its longest
        packed[-1].append(unit)
        rows += unit_rows
    return packed


def sequence_lengths(samples: list[Sample]) -> list[int]:
    return [len(s.prompt_token_ids) + len(s.response_token_ids) for s in samples]


def at_response_positions(batch: TokenBatch, rows: list[list[float]]) -> torch.Tensor:
    """Per-sample lists of per-token values (e.g. reference log-probs) laid out like response_mask."""
    out = torch.zeros_like(batch.response_mask)
    for row, (values, mask) in enumerate(zip(rows, batch.response_mask)):
        out[row, mask.bool()] = torch.tensor(values, dtype=out.dtype, device=out.device)
    return out


def unpad_response(values: torch.Tensor, batch: TokenBatch) -> list[list[float]]:
    """Per-sample lists of the values at response positions (e.g. token log-probs)."""
    return [row[mask.bool()].tolist() for row, mask in zip(values, batch.response_mask)]
