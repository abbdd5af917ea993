"""What a registry entry holds: everything the loop, the signals and the learner need to know of an
algorithm, so that none of them compares algorithm names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from core.config import AlgorithmConfig, LearnerConfig
from core.records import Sample, Signal, UpdateStats
from learner.objectives import LearnerBatch, Objective

if TYPE_CHECKING:
    from learner.engine import PolicyLearner

SignalFn = Callable[[AlgorithmConfig, list[Sample], list[float], list[float]], Signal]  # rewards/signals.py


class Updater(Protocol):
    """An optimizer-step plan: how one batch becomes updates of the learner's engines."""

    def train_step(self, batch: LearnerBatch) -> UpdateStats:
        """The updates for one batch."""

    def save(self, folder: str) -> dict:
        """Write what the plan holds beyond the policy (a critic); returns state for the policy's checkpoint."""

    def load(self, folder: str, state: dict) -> None:
        """Restore what save wrote and returned."""


@dataclass(frozen=True)
class Algorithm:
    """One registry entry (learner/algorithms/__init__.py)."""

    name: str  # algorithm.name
    signal: SignalFn  # what it learns from, made from the oracle's rewards (rewards/signals.py)
    objective: Callable[[AlgorithmConfig], Objective] | None = None  # one optimizer step per batch (OneUpdate)
    # ... or a plan of its own (PPO: epochs x minibatches with a critic), built on the policy learner
    updater: Callable[[AlgorithmConfig, LearnerConfig, PolicyLearner], Updater] | None = None
    feedback: str = ""  # the algorithm.feedback this entry serves (UNA's three forms); empty: any
    uses_beta: bool = True  # its loss is a function of beta x the log-ratio, so beta must be positive
    compares_samples: bool = False  # it needs two or more samples per prompt (pairs, group baselines)
    needs_mismatched: bool = False  # it needs responses scored under other prompts (KTO's reference point)
    has_critic: bool = False  # each learner rank also trains a value model of the policy's size (memory_plan counts it)
    # the sequences one optimizer step takes, of a batch of n (PPO splits a batch into minibatches)
    update_size: Callable[[AlgorithmConfig, int], int] = lambda cfg, n: n

    @property
    def single_update(self) -> bool:
        """One optimizer step per batch (what online merging needs to merge each update)."""
        return self.updater is None
