"""The placement plan: which actor goes in which Ray placement group and bundle, and whether that fits.

Pure: a RunConfig and a list of nodes in, a Plan out, or a ConfigError naming the key to change or what
does not fit. actors/placement.py turns a Plan into Ray placement groups; `launch.py --dry-run` prints it.

A pool is the set of roles that name it (cluster.<role>.pool; a role with no pool has one of its own).
In a pool of several roles (colocated), actor i of every role shares bundle i, so their GPU shares must add
up to at most one GPU: the OpenRLHF colocation (policy rank i, reference i and critic i on GPU i).
A tensor-parallel vLLM engine gets a placement group of its own, its GPUs on one node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.config import ConfigError, RoleResources, RunConfig

VLLM_ROLES = ("rollout", "judge")
PIN = 0.01  # how much of a node's custom resource one actor takes (a node started with 1 hosts 100 actors)


@dataclass(frozen=True)
class ActorSlot:
    role: str  # rollout, learner, reference (index 1: the KL-to-initial scorer when the reference moves), ...
    index: int
    group: str  # the placement group's name; "" when the actor asks for nothing and floats
    bundle: int
    gpus: float  # num_gpus the actor asks for (0 for a tensor-parallel engine: vLLM's workers take the GPUs)
    cpus: float
    tensor_parallel: int
    node_resource: str


@dataclass
class PlacementGroupSpec:
    name: str
    bundles: list[dict[str, float]]
    strategy: str  # PACK (bundles may spread over nodes) or STRICT_PACK (one node)
    roles: list[str]


@dataclass(frozen=True)
class Node:
    name: str
    cpus: float
    gpus: float
    resources: dict[str, float] = field(default_factory=dict)


@dataclass
class Plan:
    groups: list[PlacementGroupSpec]
    actors: list[ActorSlot]
    reference_on_learner: bool = False  # learner rank 0 scores the reference (reference_on_learner below)

    def slots(self, role: str) -> list[ActorSlot]:
        return [a for a in self.actors if a.role == role]

    def needs(self) -> dict[str, float]:
        total = _sum([bundle for group in self.groups for bundle in group.bundles])
        return {key: round(value, 4) for key, value in total.items()}


def active_roles(cfg: RunConfig) -> dict[str, int]:
    """How many actors of each role this run starts."""
    scorers = (1 if cfg.train.reference_refresh == "never" else 2) - reference_on_learner(cfg)
    roles = {"rollout": cfg.cluster.rollout.count, "learner": cfg.cluster.learner.count, "reference": scorers,
             "oracle": 1}
    if not scorers:
        del roles["reference"]
    if cfg.reward.kind == "llm_judge":
        roles["judge"] = 1
    return roles


def reference_on_learner(cfg: RunConfig) -> bool:
    """Learner rank 0 scores the reference: from a copy it holds (learner.reference_engine learner), or with
    model.lora.reference adapter_disabled from its base weights with the adapter off. When the reference
    moves, the KL-to-initial scorer is still an actor of its own (reference 0 in the plan)."""
    return learner_holds_reference(cfg) or (cfg.model.lora.enabled and cfg.model.lora.reference == "adapter_disabled")


def learner_holds_reference(cfg: RunConfig) -> bool:
    """Learner rank 0 keeps a copy of the reference model (the adapter-disabled base needs none)."""
    lora = cfg.model.lora
    return cfg.learner.reference_engine == "learner" and not (lora.enabled and lora.reference == "adapter_disabled")


def build_plan(cfg: RunConfig) -> Plan:
    _check_roles(cfg)
    counts = active_roles(cfg)
    pools: dict[str, list[str]] = {}
    for role in counts:
        pools.setdefault(_resources(cfg, role).pool or role, []).append(role)
    groups, actors = [], []
    for pool, roles in pools.items():
        tensor_parallel = [r for r in roles if _resources(cfg, r).tensor_parallel > 1 and _resources(cfg, r).gpus > 0]
        if tensor_parallel:
            if len(roles) > 1:
                raise ConfigError(f"cluster.{tensor_parallel[0]}.pool: a tensor-parallel engine takes whole GPUs and "
                                  f"cannot share pool '{pool}' with {', '.join(r for r in roles if r not in tensor_parallel)}")
            _engine_groups(cfg, roles[0], counts[roles[0]], groups, actors)
        else:
            _colocated_group(cfg, pool, roles, counts, groups, actors)
    return Plan(groups, actors, reference_on_learner(cfg))


def _engine_groups(cfg: RunConfig, role: str, count: int, groups: list, actors: list) -> None:
    res = _resources(cfg, role)
    for i in range(count):
        bundle = {"GPU": 1.0} | ({"CPU": res.cpus / res.tensor_parallel} if res.cpus else {})
        if res.node_resource:
            bundle[res.node_resource] = PIN
        name = f"{role}-{i}"
        groups.append(PlacementGroupSpec(name, [dict(bundle) for _ in range(res.tensor_parallel)], "STRICT_PACK", [role]))
        actors.append(ActorSlot(role, i, name, 0, 0.0, res.cpus / res.tensor_parallel, res.tensor_parallel,
                                res.node_resource))


def _colocated_group(cfg: RunConfig, pool: str, roles: list[str], counts: dict[str, int], groups: list,
                     actors: list) -> None:
    pins = {_resources(cfg, r).node_resource for r in roles} - {""}
    if len(pins) > 1:
        raise ConfigError(f"cluster: the roles of pool '{pool}' ({', '.join(roles)}) name different node_resource "
                          f"values {sorted(pins)}; colocated actors share bundles, so give them one")
    pin = pins.pop() if pins else ""
    if len(roles) > 1:
        over = [r for r in roles if _resources(cfg, r).gpus > 1]
        if over:
            raise ConfigError(f"cluster.{over[0]}.gpus is {_resources(cfg, over[0]).gpus:g}: in the colocated pool "
                              f"'{pool}' each actor gets a share of one GPU (at most 1)")
    bundles = []
    for i in range(max(counts[r] for r in roles)):
        members = [r for r in roles if i < counts[r]]
        gpus = round(sum(_resources(cfg, r).gpus for r in members), 4)
        if len(members) > 1 and gpus > 1:
            shares = " + ".join(f"{r} {_resources(cfg, r).gpus:g}" for r in members)
            raise ConfigError(f"cluster: pool '{pool}' puts {shares} = {gpus:g} GPUs on GPU {i}; colocated shares "
                              "must add up to at most 1 (lower the gpus of one role, or give it a pool of its own)")
        # a bundle is whole GPUs, shared by the actors in it (Ray would put two half-GPU bundles on one GPU)
        bundle = {"GPU": float(math.ceil(gpus)), "CPU": round(sum(_resources(cfg, r).cpus for r in members), 4),
                  pin: PIN * len(members)}
        bundles.append({k: v for k, v in bundle.items() if k and v > 0})
    floating = not any(bundles)
    if not floating:
        groups.append(PlacementGroupSpec(pool, bundles, "PACK", roles))
    for role in roles:
        res = _resources(cfg, role)
        for i in range(counts[role]):
            actors.append(ActorSlot(role, i, "" if floating else pool, -1 if floating else i, res.gpus, res.cpus,
                                    res.tensor_parallel, pin))


def check_fits(plan: Plan, nodes: list[Node], where: str) -> None:
    """Place the bundles as Ray would (one-node groups first, then first fit); raise naming what does not fit."""
    free = {n.name: {"CPU": n.cpus, "GPU": n.gpus, **n.resources} for n in nodes}
    ordered = sorted(plan.groups, key=lambda g: (g.strategy != "STRICT_PACK", -len(g.bundles)))
    for group in ordered:
        if group.strategy == "STRICT_PACK":
            node = next((n for n, f in free.items() if _fits(_sum(group.bundles), f)), None)
            if node is None:
                raise ConfigError(_no_fit(f"placement group '{group.name}' needs {_fmt(_sum(group.bundles))} on one "
                                          "node", free, where))
            _take(free[node], _sum(group.bundles))
            continue
        for i, bundle in enumerate(group.bundles):
            node = next((n for n, f in free.items() if _fits(bundle, f)), None)
            if node is None:
                raise ConfigError(_no_fit(f"bundle {i} of placement group '{group.name}' ({', '.join(group.roles)}) "
                                          f"needs {_fmt(bundle)}", free, where))
            _take(free[node], bundle)


def declared_nodes(cfg: RunConfig) -> list[Node]:
    """The cluster the config describes (cluster.nodes x gpus_per_node / cpus_per_node), for --dry-run."""
    c = cfg.cluster
    cpus = float(c.cpus_per_node) if c.cpus_per_node else float("inf")
    pins = {_resources(cfg, r).node_resource for r in active_roles(cfg)} - {""}
    return [Node(f"node{i}", cpus, float(c.gpus_per_node), {p: 1.0 for p in pins}) for i in range(c.nodes)]


def overlap_shares_cores(cfg: RunConfig) -> str | None:
    """What to tell a user whose overlapped generation (train.max_staleness) will compete for the same CPU cores
    as the learner, or None. An actor that reserves no CPU computes on every core of its node
    (actors/placement.compute_threads), which suits phases that take turns; overlapped, the rollout engine's
    and the learner's threads then outnumber the cores and each waits on the other's (docs/async.md: asynchronous
    generation)."""
    c = cfg.cluster
    on_cpus = not (c.rollout.gpus or c.learner.gpus)
    if cfg.train.max_staleness < 1 or not on_cpus or (c.rollout.cpus and c.learner.cpus):
        return None
    return (f"train.max_staleness {cfg.train.max_staleness} overlaps generation with learning, but "
            f"cluster.rollout.cpus is {c.rollout.cpus:g} and cluster.learner.cpus {c.learner.cpus:g}: an actor that "
            "reserves no CPU computes on every core of its machine, so the engine and the learner slow each other "
            "down (a 2-core machine ran a third of the synchronous loop's steps). Give each its share of the cores, "
            "e.g. cluster.rollout.cpus=1 cluster.learner.cpus=1 on 2 cores.")


def describe(plan: Plan) -> str:
    lines = ["placement groups:"]
    for g in plan.groups:
        lines.append(f"  {g.name} ({g.strategy}, {', '.join(g.roles)}): "
                     + "  ".join(f"[{_fmt(b)}]" for b in g.bundles))
    if not plan.groups:
        lines.append("  none (no actor asks for GPUs, CPUs or a node resource: they share the machine)")
    lines.append("actors:")
    for a in plan.actors:
        where = f"{a.group}[{a.bundle}]" if a.group else "anywhere"
        tp = f", tensor_parallel {a.tensor_parallel}" if a.tensor_parallel > 1 else ""
        lines.append(f"  {a.role} {a.index}: {where}, {a.gpus:g} GPU, {a.cpus:g} CPU{tp}")
    if plan.reference_on_learner:
        initial = " (reference 0: the KL-to-initial scorer)" if plan.slots("reference") else ""
        lines.append(f"  the reference: scored by learner 0, no actor of its own{initial}")
    lines.append(f"needs in all: {_fmt(plan.needs()) or 'nothing reserved'}")
    return "\n".join(lines)


def _check_roles(cfg: RunConfig) -> None:
    c = cfg.cluster
    for role in ("rollout", "learner", "reference", "oracle", "judge"):
        res = _resources(cfg, role)
        if role not in VLLM_ROLES and res.tensor_parallel != 1:
            raise ConfigError(f"cluster.{role}.tensor_parallel: only vLLM engines (rollout, judge) are tensor-parallel")
        if role in VLLM_ROLES and res.tensor_parallel > 1 and res.gpus != res.tensor_parallel:
            raise ConfigError(f"cluster.{role}.gpus must equal its tensor_parallel ({res.tensor_parallel}): "
                              "a tensor-parallel engine takes one whole GPU per shard")
        if role in ("reference", "oracle", "judge") and res.count != 1:
            raise ConfigError(f"cluster.{role}.count: one {role} actor is supported (got {res.count})")
    unused = [r for r in ("reference", "judge") if r not in active_roles(cfg) and _resources(cfg, r) != RoleResources()]
    if unused:
        why = {"reference": "learner rank 0 scores the reference (learner.reference_engine learner, or a LoRA policy's "
                            "model.lora.reference adapter_disabled)",
               "judge": f"reward.kind {cfg.reward.kind} starts no judge engine"}[unused[0]]
        raise ConfigError(f"cluster.{unused[0]} is set but no {unused[0]} actor runs: {why}; remove cluster.{unused[0]}")
    if c.weight_transport == "nccl" and not (c.rollout.gpus > 0 and c.learner.gpus > 0):
        raise ConfigError("cluster.weight_transport nccl needs GPUs for the rollout engines and the learner "
                          "(cluster.rollout.gpus, cluster.learner.gpus); on CPUs use shm (one machine) or ray")
    if c.weight_transport == "shm" and c.nodes > 1:
        raise ConfigError(f"cluster.weight_transport shm reaches one machine only (cluster.nodes is {c.nodes}): "
                          "use ray (or nccl on GPUs) when the rollout engines run on other nodes than the learner")


def _resources(cfg: RunConfig, role: str) -> RoleResources:
    return getattr(cfg.cluster, role)


def _sum(bundles: list[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for bundle in bundles:
        for key, value in bundle.items():
            total[key] = total.get(key, 0.0) + value
    return total


def _fits(need: dict[str, float], free: dict[str, float]) -> bool:
    return all(free.get(key, 0.0) + 1e-9 >= value for key, value in need.items())


def _take(free: dict[str, float], need: dict[str, float]) -> None:
    for key, value in need.items():
        free[key] -= value


def _fmt(resources: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:g}" for key, value in resources.items())


def _no_fit(what: str, free: dict[str, dict[str, float]], where: str) -> str:
    left = "; ".join(f"{name}: {_fmt({k: round(v, 3) for k, v in f.items() if k in ('CPU', 'GPU') or v > 0})}"
                     for name, f in free.items())
    return (f"the placement does not fit {where}: {what}, and after the groups placed before it the nodes have "
            f"{left}. Add nodes, or lower cluster.<role>.count / gpus, or colocate roles with cluster.<role>.pool")
