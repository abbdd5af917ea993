"""Samples of one prompt computed as one row: the prompt once, then each response after it.

A step draws several responses per prompt (GRPO's group, UNA's samples_per_prompt, a DPO pair), and a plain
batch computes the prompt's tokens once per response. Here a row holds [prompt, response 1, response 2, ...];
an attention mask lets each response see the prompt and its own earlier tokens, and position ids restart
each response where the prompt ends, so every token's logits are the ones its own sequence gives (to float
rounding), with the prompt's tokens computed once. The gradient is the same too: the prompt's positions
receive the sum of what each response's copy would. Needs an attention that takes a 4D mask (transformers'
sdpa, its default); the extra attention over the packed row is quadratic in its length, so a row is kept
within the micro-batch's token budget (`merge_by_prompt`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import torch

from core.records import Sample
from learner.attention import TAKES_4D_MASK

log = logging.getLogger(__name__)


@dataclass
class SharedRows:
    input_ids: torch.Tensor  # (R, L) a prompt, then its responses; right-padded
    position_ids: torch.Tensor  # (R, L) each response continues from its prompt's length
    attention_mask: torch.Tensor  # (R, 1, L, L) bool, True where a query token may attend a key token
    row: torch.Tensor  # (B, T-1) for sample b's target t: the row whose logits predict it...
    position: torch.Tensor  # (B, T-1) ...and the position in that row

    def to(self, device: torch.device | str) -> SharedRows:
        return SharedRows(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def shares_prompts(wanted: bool, max_tokens: int, model) -> bool:
    """Whether to compute shared-prompt rows (learner.share_prompts): asked for, with a token budget, and an
    attention that takes a custom 4D mask (transformers' sdpa does; flash attention does not)."""
    if not wanted or max_tokens <= 0:
        return False
    attention = getattr(model.config, "_attn_implementation", None)
    if attention not in TAKES_4D_MASK:
        log.warning("learner.share_prompts is on but the model's attention is %s, which takes no custom mask: "
                    "every sample is computed as its own row (set learner.share_prompts: false to silence this)",
                    attention)
    return attention in TAKES_4D_MASK


def shared_rows(samples: list[Sample], width: int, pad_token_id: int) -> SharedRows:
    """The samples laid out one row per distinct prompt; `width` is the plain batch's (the longest sample)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, sample in enumerate(samples):
        groups.setdefault(tuple(sample.prompt_token_ids), []).append(index)
    length = max(len(prompt) + sum(len(samples[i].response_token_ids) for i in members)
                 for prompt, members in groups.items())
    input_ids = torch.full((len(groups), length), pad_token_id, dtype=torch.long)
    position_ids = torch.zeros((len(groups), length), dtype=torch.long)
    attention_mask = torch.eye(length, dtype=torch.bool).repeat(len(groups), 1, 1, 1)  # padding sees itself: no NaN
    row = torch.zeros((len(samples), width - 1), dtype=torch.long)
    position = torch.zeros((len(samples), width - 1), dtype=torch.long)
    for r, (prompt, members) in enumerate(groups.items()):
        p = len(prompt)
        input_ids[r, :p] = torch.tensor(prompt)
        position_ids[r, :p] = torch.arange(p)
        attention_mask[r, 0, :p, :p] = torch.ones(p, p, dtype=torch.bool).tril()
        start = p
        for i in members:
            response = samples[i].response_token_ids
            end = start + len(response)
            input_ids[r, start:end] = torch.tensor(response)
            position_ids[r, start:end] = torch.arange(p, p + len(response))
            attention_mask[r, 0, start:end, :p] = True
            attention_mask[r, 0, start:end, start:end] = torch.ones(len(response), len(response), dtype=torch.bool).tril()
            # the logits at token t predict target t: the prompt's own positions, then this response's
            sources = torch.cat([torch.arange(p), torch.arange(start, end - 1)])[: p + len(response) - 1]
            row[i, : len(sources)] = r
            position[i, : len(sources)] = sources
            start = end
    return SharedRows(input_ids, position_ids, attention_mask, row, position)


def merge_by_prompt(units: list[list[int]], samples: list[Sample], max_tokens: int) -> list[list[int]]:
    """Units (a sample, or a pair that must stay together) of one prompt merged into one unit while its shared
    row stays within max_tokens: what pack_by_tokens packs when samples share their prompts."""
    merged: list[list[int]] = []
    open_unit: dict[tuple[int, ...], int] = {}  # each prompt's unit still taking units
    for unit in units:
        prompt = tuple(samples[unit[0]].prompt_token_ids)
        k = open_unit.get(prompt)
        if k is not None and row_length(samples, merged[k] + unit) <= max_tokens:
            merged[k] += unit
            continue
        open_unit[prompt] = len(merged)
        merged.append(list(unit))
    return merged


def row_length(samples: list[Sample], unit: list[int]) -> int:
    """The shared rows' tokens of a unit: each distinct prompt once, every response."""
    prompts = {tuple(samples[i].prompt_token_ids) for i in unit}
    return sum(map(len, prompts)) + sum(len(samples[i].response_token_ids) for i in unit)
