"""Merging task vectors to reduce the alignment tax.

A task vector is a difference of weights: tau = theta_SFT - theta_base (the supervised skill), and
Delta = the update an optimizer step makes. All functions are pure, on one tensor at a time.

Online merging optimizer (Lu et al. 2024, arXiv 2405.17931), applied to every optimizer step:
  OnDARE:  theta += (1 - alpha) drop_p(Delta) + alpha drop_p(tau)
           drop_p keeps each entry with probability p and rescales it by 1/p (tau's mask drawn once,
           Delta's every step).
  OnTIES:  trim Delta and tau to their top-p fraction by magnitude; elect a sign per entry,
           sign(trim(Delta) + trim(tau)); keep the entries of each that agree with it;
           theta += (1 - alpha) Delta_kept + alpha tau_kept.
Parallel train then merge (PAFT, Pentyala et al.): theta = base + merge(sparse SFT delta, aligned delta),
by task arithmetic (a weighted sum) or TIES (trim, elect sign, disjoint mean of the agreeing entries); the
SFT delta is made sparse by an L1 penalty, applied as its proximal step (soft_threshold).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def drop_and_rescale(delta: torch.Tensor, keep_rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """DARE: keep each entry with probability keep_rate, rescaled by 1 / keep_rate (unbiased in expectation)."""
    _check_rate(keep_rate)
    keep = torch.rand(delta.shape, generator=generator, device="cpu").to(delta.device) < keep_rate
    return torch.where(keep, delta / keep_rate, torch.zeros_like(delta))


def trim_to_top(delta: torch.Tensor, keep_rate: float) -> torch.Tensor:
    """TIES trim: keep the keep_rate fraction of entries largest in magnitude (at least one), zero the rest."""
    k = top_count(delta.numel(), keep_rate)
    threshold = kth_largest_magnitudes(magnitude_counter([delta.flatten()]), torch.tensor([k]))[0]
    return keep_at_least(delta, threshold)


def top_count(numel: int, keep_rate: float) -> int:
    """How many entries of a tensor of numel entries a trim to keep_rate keeps (at least one)."""
    _check_rate(keep_rate)
    return max(1, math.ceil(keep_rate * numel))


def keep_at_least(delta: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """delta where its magnitude reaches threshold, zero elsewhere."""
    return torch.where(delta.abs() >= threshold, delta, torch.zeros_like(delta))


def magnitude_counter(shards: list[torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """count(bits): for each tensor i, how many of shards[i]'s entries have |entry| >= the float32 whose bit
    pattern is bits[i]. A tensor split across ranks is counted by adding the ranks' counts (an all-reduce)."""
    patterns = [shard.detach().abs().float().flatten().view(torch.int32) for shard in shards]

    def count(bits: torch.Tensor) -> torch.Tensor:
        return torch.stack([(pattern >= b).sum() for pattern, b in zip(patterns, bits.tolist())]).to(torch.int64)

    return count


def kth_largest_magnitudes(count: Callable[[torch.Tensor], torch.Tensor], ks: torch.Tensor) -> torch.Tensor:
    """For each tensor i, the ks[i]-th largest magnitude (float32), found from counts alone so that a tensor
    sharded across ranks needs only its counts added: bisection over float32 bit patterns, which order like
    the non-negative floats they encode, so 31 halvings of [0, 2^31) end exactly on an entry's value.
    Invariant: count(lo) >= k > count(hi)."""
    lo = torch.zeros(len(ks), dtype=torch.int64)
    hi = torch.full((len(ks),), 2**31, dtype=torch.int64)
    while bool((hi - lo > 1).any()):
        mid = (lo + hi) // 2
        enough = count(mid) >= ks
        lo, hi = torch.where(enough, mid, lo), torch.where(enough, hi, mid)
    return lo.to(torch.int32).view(torch.float32)


def soft_threshold(delta: torch.Tensor, amount: float) -> torch.Tensor:
    """The proximal step of amount * |delta|_1: every entry moves amount towards zero, and stops there."""
    return torch.sign(delta) * (delta.abs() - amount).clamp(min=0)


def elect_sign(*deltas: torch.Tensor) -> torch.Tensor:
    """TIES sign election: the sign of the entries' sum (+1, -1, or 0 where it is zero)."""
    return torch.sign(torch.stack(deltas).sum(dim=0))


def ondare_update(delta: torch.Tensor, tau_dropped: torch.Tensor, keep_rate: float, alpha: float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The step OnDARE takes instead of delta; tau_dropped = drop_and_rescale(tau), drawn once."""
    return (1 - alpha) * drop_and_rescale(delta, keep_rate, generator) + alpha * tau_dropped


def onties_update(delta_trimmed: torch.Tensor, tau_trimmed: torch.Tensor, alpha: float) -> torch.Tensor:
    """The step OnTIES takes instead of the optimizer's update delta, from delta and tau trimmed to their top
    fraction (tau's trim computed once)."""
    sign = elect_sign(delta_trimmed, tau_trimmed)
    agree = lambda t: torch.where(torch.sign(t) == sign, t, torch.zeros_like(t))  # noqa: E731
    return (1 - alpha) * agree(delta_trimmed) + alpha * agree(tau_trimmed)


def task_arithmetic(deltas: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    return sum(w * d for w, d in zip(weights, deltas))


def ties_merge(deltas: list[torch.Tensor], keep_rate: float) -> torch.Tensor:
    """TIES-merging: trim each delta, elect a sign, average the entries that agree with it (disjoint mean)."""
    trimmed = [trim_to_top(d, keep_rate) for d in deltas]
    sign = elect_sign(*trimmed)
    agreeing = [torch.where((torch.sign(t) == sign) & (t != 0), t, torch.zeros_like(t)) for t in trimmed]
    count = sum((a != 0).to(a.dtype) for a in agreeing)
    return sum(agreeing) / count.clamp(min=1)


def _check_rate(rate: float) -> None:
    if not 0 < rate <= 1:
        raise ValueError(f"the reserve rate must be in (0, 1], got {rate}")
