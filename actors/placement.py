"""Ray's side of the placement plan (core/placement.py): the cluster's nodes, placement groups, actor options."""

from __future__ import annotations

import math
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from actors.calls import ActorCallError
from core.console import actor_environment
from core.placement import PIN, ActorSlot, Node, Plan


def cluster_nodes() -> list[Node]:
    """The alive nodes of the Ray cluster this driver joined, with their total resources."""
    nodes = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        res = dict(node.get("Resources", {}))
        custom = {k: v for k, v in res.items() if k not in ("CPU", "GPU", "memory", "object_store_memory")
                  and not k.startswith("node:") and not k.startswith("accelerator_type")}
        nodes.append(Node(node["NodeID"][:8], res.get("CPU", 0.0), res.get("GPU", 0.0), custom))
    return nodes


def compute_threads(slot: ActorSlot, node_cpus: float) -> int:
    """Ray gives an actor that reserves fewer than one CPU OMP_NUM_THREADS=1, so torch in it computes on one
    core (found here: the learner and reference scorer ran 1.7x slower than the same calls in a plain
    process). An actor that reserves no CPU shares its node and, the loop's phases running one after another,
    may use all of it; one that reserves CPUs uses those."""
    return max(1, math.floor(slot.cpus if slot.cpus >= 1 else node_cpus))


WORKER_SLEEPS = "UNA_ALIGN_VLLM_WORKER_SLEEPS"  # read in vLLM's worker: actors/vllm_weight_sync.wait_without_spinning
VLLM_EVERY_CORE = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", WORKER_SLEEPS: "1"}
# beside a scheduler process of its own, the worker's idle threads sleep at once rather than spin on its core
SCHEDULER_APART = {"OMP_WAIT_POLICY": "PASSIVE"}
EVERY_CORE_FROM_BYTES = 20_000_000  # weights of about 5M float32 parameters


def vllm_cpu_binding(slot: ActorSlot, model_bytes: int, separate_engine_process: bool) -> dict[str, str]:
    """vLLM's CPU build binds its worker's threads to the node's cores but one, which it keeps for its
    scheduler process: on a 2-core node it generated on one core. An engine that reserves no CPU takes turns
    with the other phases and may bind them all (as compute_threads gives the other actors); that pays
    once the model's compute outweighs the scheduler's work. vLLM alone, 64 x 32 tokens, reserved core
    against every core (docs/throughput.md): 0.4M parameters 0.20 -> 0.24 s, 4M 0.60 -> 0.65 s,
    8M 0.95 -> 0.72 s, 25M 2.16 -> 1.61 s. An engine that reserves CPUs keeps vLLM's default. With the engine
    core in the actor's process (rollout.separate_engine_process false) nothing is reserved for a scheduler
    process, the actor's threads are compute_threads', and its idle threads spin as OpenMP's default has them:
    sleeping at once (OMP_WAIT_POLICY=PASSIVE, which the scheduler process needs) made its 25M generation
    1.08-1.17x slower (docs/throughput.md)."""
    if slot.gpus or slot.cpus >= 1:
        return {}
    return vllm_every_core(model_bytes, separate_engine_process)


def vllm_every_core(model_bytes: int, separate_engine_process: bool) -> dict[str, str]:
    """vllm_cpu_binding for an engine free to use its node's cores."""
    if model_bytes < EVERY_CORE_FROM_BYTES:
        return {}
    return VLLM_EVERY_CORE | (SCHEDULER_APART if separate_engine_process else {})


def smallest_node_cpus(nodes: list[Node]) -> float:
    """The CPU count an actor that floats over the cluster can count on."""
    return min((n.cpus for n in nodes if n.cpus > 0), default=1.0)


def create_placement_groups(plan: Plan, timeout_s: float) -> dict[str, PlacementGroup]:
    groups = {spec.name: placement_group(spec.bundles, strategy=spec.strategy, name=spec.name) for spec in plan.groups}
    for name, group in groups.items():
        if not group.wait(timeout_seconds=timeout_s):
            for g in groups.values():
                remove_placement_group(g)
            raise ActorCallError(f"placement group '{name}' could not be reserved within {timeout_s:g} s: the cluster "
                                 "lacks the resources (see `ray status`), or another job holds them")
    return groups


def actor_options(slot: ActorSlot, groups: dict[str, PlacementGroup], node_cpus: float, verbose: bool,
                  env: dict[str, str] | None = None) -> dict[str, Any]:
    """Options for `.options(...)` that put an actor in its bundle with its share of the bundle, and the
    threads its torch (and vLLM's processes under it) may use; verbose: the libraries' warnings too
    (core/console.py); env: the actor's own variables (vllm_cpu_binding)."""
    env = ({"OMP_NUM_THREADS": str(compute_threads(slot, node_cpus))} | (env or {})
           | actor_environment(verbose, slot.gpus))
    options: dict[str, Any] = {"num_cpus": slot.cpus, "num_gpus": slot.gpus, "runtime_env": {"env_vars": env}}
    if slot.node_resource:
        options["resources"] = {slot.node_resource: PIN}
    if slot.group:
        # capture child tasks: a tensor-parallel vLLM engine starts its workers in the same group
        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            groups[slot.group], placement_group_bundle_index=slot.bundle, placement_group_capture_child_tasks=True)
    return options
