"""Generations started ahead of the learner (train.max_staleness k): while the learner trains on step t, the
rollout engines already generate steps t+1 .. t+k with the weights they hold, so a sample is trained on at
most k policy versions after the one that drew it (its record's staleness column).

Each engine runs its calls in the order the driver made them, so a weight push made after a generation was
started reaches that engine after it: the generation keeps the version it started with. The queue never
reaches past its iteration: evaluation, checkpoints and a resume see no generation in flight.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import ray

from actors.calls import ActorCallError
from actors.rollout_pool import RolloutPool
from core.records import Prompt, Sample
from loop.policy_sync import PolicySync

log = logging.getLogger(__name__)


@dataclass
class Generation:
    prompts: list[Prompt]
    iteration: int
    step: int
    seed: int
    calls: dict[str, ray.ObjectRef] | None = field(default=None, repr=False)  # None: (re)start it when joined


class GenerationQueue:
    def __init__(self, rollout: RolloutPool, samples_per_prompt: int, sync: PolicySync):
        self.rollout, self.n, self.sync = rollout, samples_per_prompt, sync
        self.pending: deque[Generation] = deque()

    def start(self, prompts: list[Prompt], iteration: int, step: int, seed: int) -> None:
        generation = Generation(prompts, iteration, step, seed)
        self._launch(generation)
        self.pending.append(generation)

    def next(self) -> tuple[Generation, list[Sample]]:
        """The oldest started generation's samples. An engine that died under it is restarted (PolicySync) and
        the generation started again, with the current weights (its records show that version)."""
        generation = self.pending.popleft()

        def join() -> list[Sample]:
            if generation.calls is None:
                self._launch(generation)
            try:
                return self.rollout.join(generation.calls)
            except ActorCallError:
                generation.calls = None
                raise

        return generation, self.sync.retried(join)

    def discard(self) -> int:
        """Wait for the generations still in flight and drop them (the loop stopped early); their prompts were
        never learned from. Returns how many steps were dropped."""
        dropped = len(self.pending)
        for generation in self.pending:
            if generation.calls is not None:
                ray.wait(list(generation.calls.values()), num_returns=len(generation.calls), timeout=self.rollout.timeout_s)
        self.pending.clear()
        if dropped:
            log.info("dropped %d generated steps that were started ahead of the learner (the loop stopped early)", dropped)
        return dropped

    def _launch(self, generation: Generation) -> None:
        generation.calls = self.rollout.start_generate(generation.prompts, self.n, generation.seed,
                                                       generation.iteration, generation.step)
