"""Start the run's Ray actors: one thin remote shell around each engine."""

from __future__ import annotations

from dataclasses import dataclass

import ray

from actors.oracle import Oracle
from actors.reference import ReferenceScorer
from actors.rollout import RolloutEngine
from core.config import RunConfig
from learner.engine import PolicyLearner

ACTOR_START_TIMEOUT_S = 600


@dataclass
class Actors:
    rollout: ray.actor.ActorHandle
    reference: ray.actor.ActorHandle
    initial: ray.actor.ActorHandle  # scores KL to the initial policy; the reference itself when it never moves
    oracle: ray.actor.ActorHandle
    learner: ray.actor.ActorHandle
    judge: ray.actor.ActorHandle | None = None  # reward.kind llm_judge: the judge model's own vLLM engine

    def named(self) -> dict[str, ray.actor.ActorHandle]:
        unique = {"rollout": self.rollout, "reference": self.reference, "oracle": self.oracle, "learner": self.learner}
        if self.initial is not self.reference:
            unique["initial"] = self.initial
        if self.judge is not None:
            unique["judge"] = self.judge
        return unique


def start_actors(cfg: RunConfig, model_path: str) -> Actors:
    """Create every actor, then wait until all have loaded their models (or fail naming the one that did not)."""
    samples_per_step = cfg.train.prompts_per_step * cfg.rollout.samples_per_prompt
    max_model_len = cfg.data.max_prompt_tokens + cfg.rollout.max_new_tokens
    judge_len = cfg.reward.judge.max_prompt_tokens + cfg.reward.judge.max_new_tokens
    if cfg.reward.kind == "self_judge":  # the same engine reads the (longer) judge prompts
        max_model_len = max(max_model_len, judge_len)
    reference = as_actor(ReferenceScorer).remote(model_path, cfg.learner.micro_batch_size)
    rollout = as_actor(RolloutEngine).remote(model_path, cfg.rollout, cfg.model.dtype, max_model_len, cfg.train.seed)
    judge, judge_path = None, ""
    if cfg.reward.kind == "llm_judge":
        judge_path = cfg.reward.judge.model_path
        judge = as_actor(RolloutEngine).remote(judge_path, cfg.rollout, cfg.model.dtype, judge_len, cfg.train.seed)
    elif cfg.reward.kind == "self_judge":
        judge, judge_path = rollout, model_path
    actors = Actors(
        rollout=rollout,
        reference=reference,
        initial=reference if cfg.train.reference_refresh == "never"
        else as_actor(ReferenceScorer).remote(model_path, cfg.learner.micro_batch_size),
        oracle=as_actor(Oracle).remote(cfg.reward, judge, judge_path),
        learner=as_actor(PolicyLearner).remote(model_path, cfg.learner, cfg.algorithm, samples_per_step,
                                             cfg.train.seed),
        judge=judge if cfg.reward.kind == "llm_judge" else None,
    )
    for name, handle in actors.named().items():
        try:
            ray.get(handle.peak_memory_mb.remote(), timeout=ACTOR_START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError as err:
            raise TimeoutError(f"the {name} actor did not start within {ACTOR_START_TIMEOUT_S} s") from err
        except ray.exceptions.RayActorError as err:
            raise RuntimeError(f"the {name} actor failed to start; its error follows:\n{err}") from err
    return actors


def as_actor(cls):
    # num_cpus=0: the phases of a step run one after another, so the actors share the machine's cores.
    return ray.remote(num_cpus=0)(cls)


def peak_memory(actors: Actors) -> dict[str, float]:
    return {name: round(ray.get(h.peak_memory_mb.remote()), 1) for name, h in actors.named().items()}

