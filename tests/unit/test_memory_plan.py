"""The dry run's memory estimate: parameter counts against transformers', each holding by hand, and refusals."""

import dataclasses
from pathlib import Path

import pytest

import launch
from core.config import ConfigError, load_config
from core.memory_plan import (
    GIB,
    ModelShape,
    check_memory,
    learner_holdings,
    memory_devices,
    micro_batch_tokens,
    read_shape,
    shape_from_config,
)
from core.placement import build_plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind, extra", [
    ("causal", {"tie_word_embeddings": True}),
    ("causal", {"tie_word_embeddings": False, "num_key_value_heads": 1}),  # grouped-query attention, an output head
    ("classifier", {"tie_word_embeddings": False, "num_labels": 1}),  # a reward model's score head
])
def test_parameter_counts_match_transformers(kind, extra):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    values = {"vocab_size": 320, "hidden_size": 128, "num_hidden_layers": 3, "num_attention_heads": 2,
              "intermediate_size": 256, **extra}
    with torch.device("meta"):
        cls = LlamaForSequenceClassification if kind == "classifier" else LlamaForCausalLM
        model = cls(LlamaConfig(**values))
    counted = sum(p.numel() for p in model.parameters())
    assert shape_from_config(values, "test", classifier=kind == "classifier").parameters == counted


def _shape(parameters: int) -> ModelShape:
    return ModelShape(parameters, hidden=64, layers=2, intermediate=128, vocab=100, source="test")


def _items(cfg, rank=0, ranks=1, parameters=2**30 // 4):
    """A model of a quarter of 2^30 parameters: 1 GiB of float32 weights."""
    return dict(learner_holdings(cfg, _shape(parameters), rank, ranks))


def test_one_rank_holds_weights_gradients_adamw_and_the_reference_copy():
    cfg = load_config(None, ["learner.compute_dtype=float32"])  # ZeRO stage 0 on one rank; rank 0 holds the reference
    items = _items(cfg)
    assert {k: v for k, v in items.items() if k != "activations"} == {
        "weights fp32": 1.0, "gradients": 1.0, "AdamW": 2.0, "reference fp32": 1.0}
    tokens = micro_batch_tokens(cfg)
    assert tokens == 16 * (64 + 4 * 32)  # a step's 16 prompts, each once, with 4 responses: under the 4096 budget
    per_layer = 16 * 64 + 5 * 128
    assert items["activations"] == pytest.approx((tokens * per_layer * 2 * 4 + tokens * 100 * 4 * 3) / GIB)


def test_zero_stages_divide_over_the_ranks_and_bfloat16_adds_its_weight_copies():
    cfg = load_config(None, ["learner.compute_dtype=bfloat16", "learner.zero_stage=3", "learner.reference_engine=transformers"])
    items = _items(cfg, rank=0, ranks=4)
    assert (items["weights fp32"], items["gradients"], items["AdamW"]) == (0.25, 0.25, 0.5)
    assert items["bf16 weight copies"] == 0.5 and "reference fp32" not in items
    stage2 = _items(load_config(None, ["learner.zero_stage=2", "learner.compute_dtype=float32"]), rank=1, ranks=4)
    assert (stage2["weights fp32"], stage2["gradients"], stage2["AdamW"]) == (1.0, 0.25, 0.5)
    ppo = _items(load_config(None, ["algorithm.name=ppo", "learner.zero_stage=3", "learner.compute_dtype=float32"]),
                 rank=1, ranks=4)
    assert ppo["critic"] == 1.0  # its own weights, gradients and AdamW, divided as the policy's


def test_gradient_checkpointing_keeps_each_layers_input():
    base = ["learner.compute_dtype=float32", "learner.max_tokens_per_micro_batch=1000"]
    plain = _items(load_config(None, base))["activations"]
    kept = _items(load_config(None, [*base, "learner.gradient_checkpointing=true"]))["activations"]
    logits = 1000 * 100 * 4 * 3
    assert kept == pytest.approx((1000 * 64 * 2 * 4 + 4 * 1000 * (16 * 64 + 5 * 128) * 4 + logits) / GIB)
    assert plain == pytest.approx((1000 * (16 * 64 + 5 * 128) * 2 * 4 + logits) / GIB)


def test_a_folder_that_is_not_here_is_sized_from_its_name():
    shape = read_shape("/models/Qwen2.5-7B-Instruct", load_config().model.tiny)
    assert shape.parameters == 7_000_000_000 and shape.source.startswith("guessed from the name")
    with pytest.raises(ConfigError, match="its name gives no size"):
        read_shape("/models/my-policy", load_config().model.tiny)


def test_the_old_one_node_preset_is_refused_naming_the_gpu_and_its_actors():
    """configs/gpu/una-7b-1node.yaml as it was: four learner ranks at half a GPU, the reference and an 8B reward
    model on learner 0's GPU, ZeRO-2, no checkpointing: far past 80 GiB."""
    path = str(ROOT / "configs" / "gpu" / "una-7b-1node.yaml")
    cfg = load_config(path, ["cluster.rollout.count=4", "cluster.learner.gpus=0.5", "cluster.learner.pool=train",
                             "cluster.reference.gpus=0.25", "cluster.reference.pool=train", "cluster.oracle.gpus=0.25",
                             "cluster.oracle.pool=train", "learner.zero_stage=2", "learner.gradient_checkpointing=false"])
    tiny = cfg.model.tiny
    devices = memory_devices(cfg, build_plan(cfg), read_shape(cfg.model.path, tiny),
                             read_shape(cfg.reward.model_path, tiny, classifier=True), None, 80.0, 0.0)
    with pytest.raises(ConfigError, match=r"GPU train\[0\] would hold \d+\.\d GiB \(learner 0 .*, reference 0 .*, "
                                          r"oracle 0 .*\) and has 80.0"):
        check_memory(devices)
    learner0 = next(h for d in devices for h in d.holdings if h[0] == "learner 0")
    assert learner0[1] > 80  # the learner alone: 4 x 7e9 bytes of weights and the bf16 copies, beyond the stages' shares


def test_the_dry_run_prints_the_table_and_refuses_what_cannot_fit(capsys):
    assert launch.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "memory (estimated, GiB):" in out and "learner 0:" in out and "fits in memory" in out
    assert launch.main(["--dry-run", "cluster.memory_gib_per_node=1"]) == 2
    assert "CPU memory would hold" in capsys.readouterr().err


def test_engines_on_gpus_take_their_share_of_the_gpu():
    cfg = load_config(None, ["cluster.rollout.gpus=1", "cluster.learner.gpus=1", "rollout.gpu_memory_utilization=0.5"])
    devices = memory_devices(cfg, build_plan(cfg), _shape(10**6), None, None, 40.0, 0.0)
    rollout = next(d for d in devices if d.holdings[0][0] == "rollout 0")
    assert rollout.total_gib == 20.0 and rollout.name.startswith("GPU")
    check_memory(devices)
    with pytest.raises(ConfigError, match=r"GPU rollout\[0\] would hold 20.0 GiB \(rollout 0 20.0\) and has 19.0"):
        check_memory([dataclasses.replace(rollout, capacity_gib=19.0)])
