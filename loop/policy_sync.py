"""Every actor on the learner's current policy: weight pushes to the rollout engines, the reference's
refresh schedule, the sync check, and a call retried after Ray restarted an actor that died."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import ray

from actors.calls import ActorCallError, wait_one, wait_until_answering
from actors.group import Actors
from actors.weight_sync import push_weights, verify_sync
from core.config import RunConfig
from core.precision import concrete_dtype
from core.records import Sample
from loop import checkpoint
from loop.state import LoopState

log = logging.getLogger(__name__)
T = TypeVar("T")
# bfloat16: vLLM's and the learner's roundings differ by up to about 0.05 a token (5.08e-2 measured with a LoRA
# policy at lr 1e-2 on an AVX512-BF16 CPU), so the check there finds a stale or wrong push, not a rounding
SYNC_TOLERANCE = {"float32": 1e-3, "bfloat16": 1e-1, "float16": 1e-1}


class PolicySync:
    def __init__(self, cfg: RunConfig, actors: Actors, state: LoopState):
        self.cfg, self.actors, self.state = cfg, actors, state
        self.latest_weights: ray.ObjectRef | None = None  # the last exported weights, reused by the reference

    def retried(self, call: Callable[[], T]) -> T:
        """call(), again after an actor it used died and Ray restarted it (cluster.max_restarts in a run): the
        rollout engines first get the current weights back. Nothing was recorded for the failed call, and its
        seeds are the same, so every sample is still recorded once. Other errors, and deaths past the limit,
        stop the run (its last checkpoint resumes)."""
        while True:
            try:
                return call()
            except ActorCallError as err:
                limit = self.cfg.cluster.max_restarts
                if not err.died or self.state.actor_restarts >= limit:
                    raise
                a = self.actors
                # first: a dead actor Ray does not restart (the learner, a reference scorer) ends the run here
                wait_until_answering(a.named(), a.timeout_s, a.restartable)
                self.state.actor_restarts += 1
                log.warning("%s\nRay restarts it (restart %d of cluster.max_restarts=%d); the rollout engines get "
                            "policy version %d again and the call is retried", str(err).splitlines()[0],
                            self.state.actor_restarts, limit, self.state.policy_version)
                push_weights(a.learner, a.rollout, self.state.policy_version, a.timeout_s, a.transport, a.lora)

    def push(self) -> None:
        """A new policy version: the generators always take it, the reference when its schedule says."""
        state, train = self.state, self.cfg.train
        state.policy_version += 1
        ema = train.reference_refresh == "ema"
        every_k = train.reference_refresh == "every_k_steps" and state.updates % train.reference_refresh_steps == 0
        a, version = self.actors, state.policy_version
        # the engines (retried if one dies: loading weights twice is harmless), then the reference (an EMA step
        # applied twice would not be)
        self.latest_weights = self.retried(lambda: push_weights(a.learner, a.rollout, version, a.timeout_s,
                                                                a.transport, a.lora))
        if ema or every_k:
            self.load_reference(train.reference_ema_rate if ema else None)

    def verify(self, samples: list[Sample]) -> float:
        """The largest difference between the engines' and the learner's log-probs of these samples."""
        return self.retried(lambda: verify_sync(self.actors.rollout, self.actors.learner, samples,
                                                self.tolerance(), self.state.policy_version))

    def tolerance(self) -> float:
        """How far the engines' log-probs may be from the learner's float32 ones, by the dtype the engines serve in
        (model.dtype; auto resolved as the engines resolve it, for a loop started without launch.py)."""
        return SYNC_TOLERANCE[concrete_dtype(self.cfg.model.dtype, self.cfg.cluster.rollout.gpus > 0)]

    def refresh_after_iteration(self) -> None:
        """train.reference_refresh every_iteration: the reference takes the policy."""
        if self.cfg.train.reference_refresh == "every_iteration":
            self.load_reference()

    def load_reference(self, ema_rate: float | None = None) -> None:
        """The reference takes the policy's weights (or, with ema_rate, moves toward them). The learner has not
        changed since the last push, so its buckets are reused when there are any."""
        a = self.actors
        weights = self.latest_weights or a.learner.export_weights()
        wait_one(a.reference.load_reference.remote(weights, self.state.policy_version, ema_rate),
                 "reference: load_reference", a.timeout_s)

    def restore(self, folder: Path) -> None:
        """The learner, the engines and a moving reference as the checkpoint in folder left them."""
        a, version = self.actors, self.state.policy_version
        a.learner.load_state(str(folder / "resume" / "learner"))
        self.latest_weights = push_weights(a.learner, a.rollout, version, a.timeout_s, a.transport, a.lora)
        if self.cfg.train.reference_refresh != "never":
            checkpoint.restore_reference(a.reference, folder, version, a.timeout_s)
