"""Start the run's Ray actors where the placement plan puts them: one thin remote shell around each engine."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import ray
from ray.actor import ActorHandle

from actors.calls import ActorCallError, wait
from actors.learner_group import LearnerGroup
from actors.oracle import Oracle
from actors.placement import actor_options, cluster_nodes, create_placement_groups, smallest_node_cpus, vllm_cpu_binding
from actors.rollout import RolloutEngine
from actors.rollout_pool import RolloutPool
from core.config import RunConfig
from core.model_folder import weights_bytes
from core.placement import ActorSlot, build_plan, check_fits, describe, learner_holds_reference, reference_on_learner
from learner.engine import PolicyLearner
from learner.reference import ReferenceScorer

log = logging.getLogger(__name__)


@dataclass
class Actors:
    """The run's actors, each typed by the class it hosts (ActorHandle[T]: its methods are T's, called remotely)."""

    rollout: RolloutPool
    # learner rank 0 with learner.reference_engine learner (its copy) or model.lora.reference adapter_disabled
    # (its score() switches the adapter off); learner.reference_engine vllm: a vLLM engine serving the reference
    reference: ActorHandle[ReferenceScorer] | ActorHandle[PolicyLearner] | ActorHandle[RolloutEngine]
    # scores KL to the initial policy; the reference itself when it never moves
    initial: ActorHandle[ReferenceScorer] | ActorHandle[PolicyLearner] | ActorHandle[RolloutEngine]
    oracle: ActorHandle[Oracle]
    learner: LearnerGroup
    timeout_s: float
    judge: ActorHandle[RolloutEngine] | None = None  # reward.kind llm_judge: the judge model's own vLLM engine
    transport: str = "ray"  # cluster.weight_transport
    lora: bool = False  # model.lora.pushes_adapter(): pushes send the adapter only
    placement: dict[str, str] = field(default_factory=dict)  # actor name -> Ray node id
    # the names (as named() gives them) of the actors Ray restarts when they die: the vLLM engines and the oracle
    restartable: set[str] = field(default_factory=set)

    def named(self) -> dict[str, ray.actor.ActorHandle]:
        """Every actor by the name errors and summary.json use ("rollout", or "rollout 0", "rollout 1", ...)."""
        unique = _numbered("rollout", self.rollout.engines) | _numbered("learner", self.learner.ranks)
        unique["oracle"] = self.oracle
        if self.reference is not self.learner.ranks[0]:
            unique["reference"] = self.reference
        if self.initial is not self.reference:
            unique["initial"] = self.initial
        if self.judge is not None:
            unique["judge"] = self.judge
        return unique


def start_actors(cfg: RunConfig, model_path: str) -> Actors:
    """Check the plan fits the cluster, create every actor in its bundle, then wait until all have loaded
    their models (or fail naming the one that did not)."""
    plan = build_plan(cfg)
    nodes = cluster_nodes()
    check_fits(plan, nodes, "this Ray cluster")
    node_cpus = smallest_node_cpus(nodes)
    log.info("%s", describe(plan))
    groups = create_placement_groups(plan, cfg.cluster.call_timeout_s)
    timeout = cfg.cluster.call_timeout_s

    def place(cls, slot: ActorSlot, restarts: int = 0, env: dict[str, str] | None = None):
        options = actor_options(slot, groups, node_cpus, cfg.logging.verbose, env)
        return ray.remote(cls).options(**options, max_restarts=restarts)

    def place_engine(slot: ActorSlot, path: str):
        return place(RolloutEngine, slot, restarts,
                     vllm_cpu_binding(slot, weights_bytes(path), cfg.rollout.separate_engine_process))

    def plain_engine(slot: ActorSlot, path: str, length: int):
        """An engine that takes no weight pushes (the judge's, a vLLM reference)."""
        return place_engine(slot, path).remote(path, cfg.rollout, cfg.model.dtype, length, cfg.train.seed,
                                               slot.tensor_parallel, verbose=cfg.logging.verbose)

    restarts = cfg.cluster.max_restarts  # engines and the oracle hold no state the loop cannot give back

    samples_per_step = cfg.train.prompts_per_step * cfg.rollout.samples_per_prompt
    max_model_len = cfg.data.max_prompt_tokens + cfg.rollout.max_new_tokens
    judge_len = cfg.reward.judge.max_prompt_tokens + cfg.reward.judge.max_new_tokens
    if cfg.reward.kind == "self_judge":  # the rollout engines read the (longer) judge prompts too
        max_model_len = max(max_model_len, judge_len)
    lora = cfg.model.lora
    engines = [place_engine(s, model_path).remote(model_path, cfg.rollout, cfg.model.dtype, max_model_len, cfg.train.seed,
                                              s.tensor_parallel, cfg.cluster.weight_transport,
                                              lora if lora.pushes_adapter() else None,  # serve merged: plain engines
                                              verbose=cfg.logging.verbose)
               for s in plan.slots("rollout")]
    if cfg.learner.reference_engine == "vllm":  # an engine serving the reference: its prompt log-probs
        scorers = [plain_engine(s, model_path, max_model_len) for s in plan.slots("reference")]
    else:
        scorers = [place(ReferenceScorer, s).remote(model_path, cfg.learner.micro_batch_size,
                                                     cfg.learner.max_tokens_per_micro_batch, cfg.learner.share_prompts,
                                                     lora.adapter_path if lora.enabled else "", cfg.learner.compute_dtype,
                                                     cfg.learner.compile)
                   for s in plan.slots("reference")]
    judge, judge_path = None, ""
    if cfg.reward.kind == "llm_judge":
        judge_path = cfg.reward.judge.model_path
        (slot,) = plan.slots("judge")
        judge = plain_engine(slot, judge_path, judge_len)
    rollout = RolloutPool(engines, timeout, cfg.cluster.rollout.tensor_parallel)
    judge_engines = None
    if judge is not None:
        judge_engines = RolloutPool([judge], timeout, role="judge engine")
    elif cfg.reward.kind == "self_judge":  # the policy judges itself on every rollout engine
        judge_engines, judge_path = rollout, model_path
    (oracle_slot,) = plan.slots("oracle")
    ranks = plan.slots("learner")  # ranks that share a node train at once: they split its cores
    learner = LearnerGroup.create([actor_options(s, groups, node_cpus / len(ranks), cfg.logging.verbose) for s in ranks], timeout)
    oracle = place(Oracle, oracle_slot, restarts).remote(cfg.reward, judge_engines, judge_path)
    restarted = [*engines, oracle, judge] + (scorers if cfg.learner.reference_engine == "vllm" else [])
    if reference_on_learner(cfg):  # its copy, or the adapter-disabled base; a moving one's initial is an actor
        scorers = [learner.ranks[0], *scorers]
    actors = Actors(
        rollout=rollout,
        reference=scorers[0],
        initial=scorers[-1],  # a second scorer only when the reference moves
        oracle=oracle,
        learner=learner,
        timeout_s=timeout,
        judge=judge,
        transport=cfg.cluster.weight_transport,
        lora=lora.pushes_adapter(),
    )
    # the learner loads while the engines do (start-up is mostly one process's imports)
    learner_start = learner.begin_start(model_path, cfg.learner, cfg.algorithm, samples_per_step, cfg.train.seed,
                                        cfg.cluster.weight_bucket_mb, lora, learner_holds_reference(cfg))
    actors.restartable = {name for name, h in actors.named().items() if any(h is r for r in restarted)}
    _wait_started(actors, learner_start, cfg.cluster.call_timeout_s)
    actors.placement = wait({name: h.node_id.remote() for name, h in actors.named().items()}, timeout)
    return actors


def _wait_started(actors: Actors, learner_start: dict[str, ray.ObjectRef], timeout_s: float) -> None:
    """Until every actor has loaded its model (a call answers after the constructor ran) and the learner started."""
    others = {f"{name}: start": h.peak_memory_mb.remote() for name, h in actors.named().items()
              if not name.startswith("learner")}
    try:
        wait(others | learner_start, timeout_s)
    except ActorCallError as err:
        raise ActorCallError(f"an actor failed to start: {err}") from err


def peak_memory(actors: Actors) -> dict[str, float]:
    memory = wait({name: h.peak_memory_mb.remote() for name, h in actors.named().items()}, actors.timeout_s)
    return {name: round(mb, 1) for name, mb in memory.items()}


def _numbered(role: str, handles: list) -> dict[str, ray.actor.ActorHandle]:
    return {role: handles[0]} if len(handles) == 1 else {f"{role} {i}": h for i, h in enumerate(handles)}

