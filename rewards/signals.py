"""Judgements to learning signal: score targets, binary labels, best-against-worst pairs, group advantages.

Inputs are the samples the oracle did not abstain on, their raw rewards and their [0, 1] score targets, in
the same order. Each algorithm's registry entry (learner/algorithms/) names the signal function it learns from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from core.config import AlgorithmConfig
from core.records import Sample, Signal
from learner.policy_gradient import grpo_advantages, rloo_advantages
from rewards.normalize import group_indices


def binary_labels(rewards: list[float], threshold: float) -> list[float]:
    """1.0 (desirable) where the reward is at least the threshold, else 0.0."""
    return [1.0 if r >= threshold else 0.0 for r in rewards]


def best_vs_worst_pairs(group_keys: list[str], rewards: list[float]) -> tuple[list[tuple[int, int]], int]:
    """Per group (a prompt's samples), the highest-rewarded sample against the lowest, as (chosen, rejected)
    indices. A group whose samples all tie, or that has one sample, gives no pair; returns (pairs, dropped)."""
    pairs, dropped = [], 0
    for indices in group_indices(group_keys).values():
        best = max(indices, key=lambda i: rewards[i])
        worst = min(indices, key=lambda i: rewards[i])
        if rewards[best] > rewards[worst]:
            pairs.append((best, worst))
        else:
            dropped += 1
    return pairs, dropped


def group_advantages(samples: list[Sample], rewards: list[float],
                     estimator: Callable[[torch.Tensor], torch.Tensor]) -> list[float]:
    """An estimator of learner/policy_gradient.py (GRPO's (r - mean) / (std + 1e-4), RLOO's r - mean of the
    others) applied within each prompt's samples.
    A prompt with one surviving sample has no baseline and gets advantage 0 (it teaches nothing)."""
    advantages = [0.0] * len(samples)
    for indices in group_indices([s.prompt_id for s in samples]).values():
        if len(indices) < 2:
            continue
        group = torch.tensor([[rewards[i] for i in indices]], dtype=torch.float64)
        values = estimator(group)
        for i, value in zip(indices, values[0].tolist()):
            advantages[i] = value
    return advantages


def score_signal(algorithm: AlgorithmConfig, samples: list[Sample], rewards: list[float], targets: list[float]) -> Signal:
    """The [0, 1] score targets as they are (UNA score, PPO)."""
    return Signal("scores", scores=targets)


def label_signal(algorithm: AlgorithmConfig, samples: list[Sample], rewards: list[float], targets: list[float]) -> Signal:
    """Targets thresholded at algorithm.binary_threshold (UNA binary, KTO)."""
    return Signal("labels", scores=targets, labels=binary_labels(targets, algorithm.binary_threshold))


def pair_signal(algorithm: AlgorithmConfig, samples: list[Sample], rewards: list[float], targets: list[float]) -> Signal:
    """Best against worst raw reward per prompt (UNA pairwise, the DPO family); the targets are kept for records."""
    pairs, dropped = best_vs_worst_pairs([s.prompt_id for s in samples], rewards)
    return Signal("pairs", scores=targets, pairs=pairs, ties_dropped=dropped)


def grpo_signal(algorithm: AlgorithmConfig, samples: list[Sample], rewards: list[float], targets: list[float]) -> Signal:
    return Signal("advantages", advantages=group_advantages(samples, rewards, grpo_advantages))


def rloo_signal(algorithm: AlgorithmConfig, samples: list[Sample], rewards: list[float], targets: list[float]) -> Signal:
    return Signal("advantages", advantages=group_advantages(samples, rewards, rloo_advantages))


def mismatched_samples(samples: list[Sample]) -> list[Sample]:
    """Each sample's response under the next sample's prompt that differs from its own (KTO's z_ref).
    Returns [] when every sample shares one prompt."""
    out = []
    for i, sample in enumerate(samples):
        other = next((samples[(i + k) % len(samples)] for k in range(1, len(samples))
                      if samples[(i + k) % len(samples)].prompt_id != sample.prompt_id), None)
        if other is None:
            return []
        out.append(replace(other, sample_id=f"{sample.sample_id}-mismatched", prompt_id=sample.prompt_id,
                           prompt_text=sample.prompt_text, prompt_token_ids=sample.prompt_token_ids))
    return out
