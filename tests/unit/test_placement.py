"""The placement plan, its fit check, --dry-run on the GPU example configs, and sharding across engines."""

import dataclasses
from pathlib import Path

import pytest

from actors.placement import WORKER_SLEEPS, actor_options, vllm_cpu_binding
from actors.rollout_pool import contiguous_shards
from core.config import ConfigError, load_config
from core.placement import Node, build_plan, check_fits, declared_nodes, overlap_shares_cores

ROOT = Path(__file__).resolve().parents[2]
GPU_CONFIGS = sorted((ROOT / "configs" / "gpu").glob("*.yaml"))


def _cfg(*overrides):
    return load_config(None, list(overrides))


def test_the_default_run_reserves_nothing_and_its_actors_float():
    plan = build_plan(_cfg())
    assert plan.groups == []
    assert [(a.role, a.group) for a in plan.actors] == [("rollout", ""), ("learner", ""), ("oracle", "")]
    assert plan.reference_on_learner  # learner.reference_engine learner: no reference actor


@pytest.mark.parametrize(("overrides", "roles"), [
    (["learner.reference_engine=transformers"], ["rollout", "learner", "reference", "oracle"]),
    # a moving reference: learner rank 0 holds it, the KL-to-initial scorer is the one reference actor
    (["train.reference_refresh=ema"], ["rollout", "learner", "reference", "oracle"]),
    (["learner.reference_engine=transformers", "train.reference_refresh=ema"],
     ["rollout", "learner", "reference", "reference", "oracle"]),
    (["learner.reference_engine=transformers", "model.lora.enabled=true"], ["rollout", "learner", "oracle"]),
])
def test_a_reference_on_the_learner_starts_no_actor_of_its_own(overrides, roles):
    """learner.reference_engine learner (the default), or a LoRA policy's adapter-disabled base."""
    assert [a.role for a in build_plan(_cfg(*overrides)).actors] == roles


def test_floating_cpu_actors_compute_on_the_whole_node():
    plan = build_plan(_cfg())
    env = {a.role: actor_options(a, {}, 2.0, verbose=False)["runtime_env"]["env_vars"] for a in plan.actors}
    assert {role: e["OMP_NUM_THREADS"] for role, e in env.items()} == dict.fromkeys(env, "2")
    reserving = dataclasses.replace(plan.slots("learner")[0], cpus=1.0)
    assert actor_options(reserving, {}, 2.0, verbose=False)["runtime_env"]["env_vars"]["OMP_NUM_THREADS"] == "1"


@pytest.mark.parametrize(("overrides", "warned"), [
    ([], False),
    (["train.max_staleness=1"], True),
    (["train.max_staleness=1", "cluster.rollout.cpus=1"], True),  # the learner still computes on every core
    (["train.max_staleness=1", "cluster.rollout.cpus=1", "cluster.learner.cpus=1"], False),
    (["train.max_staleness=1", "cluster.rollout.gpus=1", "cluster.learner.gpus=1"], False),
])
def test_overlapped_generation_on_shared_cores_is_warned_of(overrides, warned):
    """Overlapped, an engine and a learner that reserve no CPUs both compute on every core (docs/async.md: asynchronous
    generation): a third of the synchronous loop's steps on 2 cores."""
    message = overlap_shares_cores(_cfg(*overrides))
    assert (message is not None) == warned
    if warned:
        assert "cluster.learner.cpus 0" in message and "cluster.rollout.cpus=1 cluster.learner.cpus=1" in message


def test_vllm_binds_every_core_for_a_model_large_enough_when_it_reserves_none():
    engine = build_plan(_cfg()).slots("rollout")[0]
    every_core = vllm_cpu_binding(engine, 30_000_000, separate_engine_process=True)
    assert every_core == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "OMP_WAIT_POLICY": "PASSIVE", WORKER_SLEEPS: "1"}
    assert actor_options(engine, {}, 2.0, False, every_core)["runtime_env"]["env_vars"]["OMP_WAIT_POLICY"] == "PASSIVE"
    # no scheduler process beside the worker's threads: they spin between decoding steps as OpenMP's default has it
    assert vllm_cpu_binding(engine, 30_000_000, separate_engine_process=False) == {
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0", WORKER_SLEEPS: "1"}
    for separate in (True, False):
        assert vllm_cpu_binding(engine, 1_500_000, separate) == {}  # the tiny model: vLLM's scheduler core pays more
        assert vllm_cpu_binding(dataclasses.replace(engine, cpus=1.0), 30_000_000, separate) == {}
        assert vllm_cpu_binding(dataclasses.replace(engine, gpus=1.0), 30_000_000, separate) == {}


def test_colocated_roles_share_bundles_and_whole_gpus():
    plan = build_plan(_cfg("cluster.learner.count=4", "cluster.learner.gpus=0.5", "cluster.learner.pool=train",
                           "learner.reference_engine=transformers", "cluster.reference.gpus=0.25",
                           "cluster.reference.pool=train", "cluster.reference.cpus=2",
                           "cluster.oracle.gpus=0.25", "cluster.oracle.pool=train",
                           "cluster.rollout.count=2", "cluster.rollout.gpus=1"))
    groups = {g.name: g for g in plan.groups}
    assert groups["train"].bundles == [{"GPU": 1.0, "CPU": 2.0}, {"GPU": 1.0}, {"GPU": 1.0}, {"GPU": 1.0}]
    assert groups["rollout"].bundles == [{"GPU": 1.0}, {"GPU": 1.0}]
    slots = {(a.role, a.index): a for a in plan.actors}
    assert (slots["reference", 0].group, slots["reference", 0].bundle, slots["reference", 0].gpus) == ("train", 0, 0.25)
    assert (slots["learner", 3].bundle, slots["learner", 3].gpus) == (3, 0.5)
    assert plan.needs() == {"GPU": 6.0, "CPU": 2.0}


def test_shares_over_one_gpu_name_the_roles():
    with pytest.raises(ConfigError, match=r"learner 0.75 \+ reference 0.5 = 1.25 GPUs"):
        build_plan(_cfg("cluster.learner.gpus=0.75", "cluster.learner.pool=train", "cluster.reference.gpus=0.5",
                        "cluster.reference.pool=train", "learner.reference_engine=transformers"))


def test_a_tensor_parallel_engine_needs_its_gpus_on_one_node():
    cfg = _cfg("reward.kind=llm_judge", "cluster.judge.gpus=8", "cluster.judge.tensor_parallel=8")
    plan = build_plan(cfg)
    (judge,) = [g for g in plan.groups if g.roles == ["judge"]]
    assert (judge.strategy, len(judge.bundles)) == ("STRICT_PACK", 8)
    check_fits(plan, [Node("a", 64, 8)], "one node")
    with pytest.raises(ConfigError, match="'judge-0' needs GPU 8 on one node.*a: CPU 32, GPU 4; b: CPU 32, GPU 4"):
        check_fits(plan, [Node("a", 32, 4), Node("b", 32, 4)], "two half nodes")


def test_the_first_bundle_that_does_not_fit_is_named():
    plan = build_plan(_cfg("cluster.rollout.count=3", "cluster.rollout.gpus=1"))
    check_fits(plan, [Node("a", 8, 2), Node("b", 8, 1)], "3 GPUs")
    with pytest.raises(ConfigError, match=r"bundle 2 of placement group 'rollout' \(rollout\) needs GPU 1"):
        check_fits(plan, [Node("a", 8, 2)], "2 GPUs")


def test_pins_need_a_node_with_the_resource():
    plan = build_plan(_cfg("cluster.learner.node_resource=trainer"))
    check_fits(plan, [Node("a", 2, 0), Node("b", 2, 0, {"trainer": 1.0})], "two nodes")
    with pytest.raises(ConfigError, match="needs trainer 0.01"):
        check_fits(plan, [Node("a", 2, 0)], "one node")


@pytest.mark.parametrize("overrides, message", [
    (["cluster.reference.count=2"], "cluster.reference.count: one reference actor"),
    (["cluster.reference.gpus=0.5"], "cluster.reference is set but no reference actor runs: learner rank 0"),
    (["model.lora.enabled=true", "cluster.reference.pool=p"], "model.lora.reference adapter_disabled"),
    (["cluster.judge.gpus=1"], "reward.kind letter_share starts no judge engine; remove cluster.judge"),
    (["cluster.learner.tensor_parallel=2"], "only vLLM engines"),
    (["cluster.rollout.tensor_parallel=2", "cluster.rollout.gpus=1"], "must equal its tensor_parallel"),
    (["cluster.weight_transport=nccl"], "needs GPUs for the rollout engines"),
    (["cluster.weight_transport=shm", "cluster.nodes=2"], "shm reaches one machine only"),
    (["cluster.learner.node_resource=a", "cluster.learner.pool=p", "cluster.oracle.node_resource=b",
      "cluster.oracle.pool=p"], "different node_resource"),
])
def test_impossible_placements_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_plan(_cfg(*overrides))


@pytest.mark.parametrize("path", GPU_CONFIGS, ids=lambda p: p.stem)
def test_gpu_example_configs_pass_the_dry_run(path, capsys):
    import launch

    assert launch.main(["--dry-run", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "fits the declared cluster" in out and "GPU" in out
    assert "memory (estimated, GiB):" in out and "fits in memory" in out  # sized from the folders' names
    assert "precision: learner bfloat16 (set in the config); rollout engines bfloat16 (set in the config)" in out


def test_the_dry_run_fails_early_on_a_cluster_too_small(capsys):
    import launch

    path = ROOT / "configs" / "gpu" / "rlaif-70b-judge.yaml"
    assert launch.main(["--dry-run", "--config", str(path), "cluster.nodes=1"]) == 2
    assert "does not fit the declared cluster (1 node(s) x 8 GPUs" in capsys.readouterr().err


def test_declared_nodes_follow_the_config():
    nodes = declared_nodes(_cfg("cluster.nodes=2", "cluster.gpus_per_node=8", "cluster.cpus_per_node=32"))
    assert [(n.cpus, n.gpus) for n in nodes] == [(32, 8), (32, 8)]


def test_shards_are_contiguous_balanced_and_in_order():
    assert contiguous_shards(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert contiguous_shards([1], 2) == [[1], []]


@pytest.mark.parametrize("sleeps, busy_loop_s", [("1", 0), ("", 1)])
def test_a_vllm_worker_told_to_sleep_waits_without_spinning(monkeypatch, tmp_path, sleeps, busy_loop_s):
    """The patch vLLM's worker applies when it imports the extension's module (CPU platform): its readers
    stop spinning a second after each message; without the variable, vLLM's own second stays."""
    import zmq
    from vllm.distributed.device_communicators import shm_broadcast

    from actors.vllm_weight_sync import wait_without_spinning

    monkeypatch.setattr(shm_broadcast.SpinCondition, "__init__", shm_broadcast.SpinCondition.__init__)  # undone after
    monkeypatch.setenv(WORKER_SLEEPS, sleeps)
    wait_without_spinning()
    context = zmq.Context()
    reader = shm_broadcast.SpinCondition(True, context, f"ipc://{tmp_path}/notify")
    assert reader.busy_loop_s == busy_loop_s
    context.destroy(linger=0)
