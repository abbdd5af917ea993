"""Raw scores to UNA score targets in [0, 1] (how scores are mapped matters: on the toy task
per-prompt min-max learned fastest, ahead of batch-sigmoid and raw scores)."""

from __future__ import annotations

import math


def group_indices(keys: list[str]) -> dict[str, list[int]]:
    """Positions of each key, in first-seen order: the samples of each prompt (or prompt and step)."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return groups


def score_targets(raw: list[float], prompt_ids: list[str], method: str) -> list[float]:
    """raw: scores as given (the paper's form, expected in [0, 1]); sigmoid: of the raw score (a reward
    model's logit); batch_sigmoid: sigmoid of the
    batch z-score; prompt_minmax: (s - min) / (max - min) among the samples of the same prompt,
    0.5 where all of a prompt's samples score the same."""
    if method == "raw":
        out = [min(1.0, max(0.0, s)) for s in raw]
    elif method == "sigmoid":  # a reward model's logit
        out = [1 / (1 + math.exp(-s)) for s in raw]
    elif method == "batch_sigmoid":
        mean = sum(raw) / len(raw)
        std = math.sqrt(sum((s - mean) ** 2 for s in raw) / len(raw))
        out = [1 / (1 + math.exp(-(s - mean) / (std + 1e-6))) for s in raw]
    elif method == "prompt_minmax":
        groups = group_indices(prompt_ids)
        bounds = {pid: (min(raw[i] for i in idx), max(raw[i] for i in idx)) for pid, idx in groups.items()}
        out = []
        for pid, s in zip(prompt_ids, raw):
            lo, hi = bounds[pid]
            out.append((s - lo) / (hi - lo) if hi > lo else 0.5)
    else:
        raise ValueError(f"reward.normalization {method!r} is not one of raw, sigmoid, batch_sigmoid, prompt_minmax")
    return out
