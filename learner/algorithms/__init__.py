"""The algorithm registry: one entry per algorithm, and the one place that knows their names.

An entry (base.Algorithm) says what the algorithm learns from (a signal function of rewards/signals.py),
what it minimises (an objective, applied as one optimizer step per batch by learner/one_update.py) or its
own optimizer-step plan (PPO's epochs and minibatches with a critic), and what it needs of the config. The
loop, the learner and the config checks ask `lookup(cfg)`; nothing else compares algorithm names.

Adding an algorithm: a new file in this folder with its objective and its entry, and one line below
(docs/algorithms.md, "Adding an algorithm").
"""

from __future__ import annotations

from core.config import AlgorithmConfig
from learner.algorithms import dpo_family, group, kto, ppo, una
from learner.algorithms.base import Algorithm

REGISTRY: list[Algorithm] = [
    una.SCORE, una.BINARY, una.PAIRWISE,
    dpo_family.DPO, dpo_family.IPO, dpo_family.SIMPO, dpo_family.RDPO,
    kto.KTO,
    group.GRPO, group.RLOO,
    ppo.PPO,
]


def lookup(cfg: AlgorithmConfig) -> Algorithm:
    """The entry for algorithm.name (and, where an entry serves one form, algorithm.feedback)."""
    for entry in REGISTRY:
        if entry.name == cfg.name and entry.feedback in ("", cfg.feedback):
            return entry
    if any(entry.name == cfg.name for entry in REGISTRY):
        forms = [entry.feedback for entry in REGISTRY if entry.name == cfg.name]
        raise ValueError(f"algorithm.feedback {cfg.feedback!r} is not a form of {cfg.name}; choose one of {forms}")
    raise ValueError(f"algorithm.name {cfg.name!r} is not registered; choose one of {names()}")


def names() -> list[str]:
    return sorted({entry.name for entry in REGISTRY})
