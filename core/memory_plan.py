"""What each device of a placement plan holds, estimated before any model loads: the dry run's memory table, and
a refusal, naming the device, its actors and the fix, when a plan cannot fit.

Pure: a RunConfig, a Plan and the models' shapes in, a list of Device out. The estimate counts what the code
holds (learner/engine.py, learner/reference.py, rewards/reward_model.py, actors/rollout.py):
- a learner rank: float32 weights, gradients and AdamW's two moments (divided over the ranks by ZeRO's stage:
  1 the moments, 2 also the gradients, 3 also the weights), the bfloat16 copies autocast makes of the weights
  (kept for the backward pass), the reference copy rank 0 holds (learner.reference_engine learner), and one
  micro-batch's activations;
- a reference scorer or reward model: float32 weights and one micro-batch's forward pass;
- a vLLM engine on a GPU: its gpu_memory_utilization share of the GPU; on a CPU: its weights in model.dtype and
  rollout.kv_cache_gib.
The activation constants were fitted to measured peaks (bench/memory.py; docs/clusters.md says how close).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.config import ConfigError, RunConfig, TinyModelConfig
from core.placement import Plan, learner_holds_reference

GIB = 2**30
# What one token of a training micro-batch keeps for the backward pass in one decoder layer, in elements of the
# hidden and intermediate widths (fitted on Llama-style models, bench/memory.py), and the logits' copies (logits,
# log-softmax and its gradient, float32) per token per vocabulary entry.
TRAIN_HIDDEN_ELEMENTS, TRAIN_INTERMEDIATE_ELEMENTS, LOGIT_COPIES = 16, 5, 3
# With gradient checkpointing: each layer's input, and about this many layers' activations at once (the layer
# recomputed, its gradients and the allocator's reuse: fitted at 25M and 100M, bench/memory.py)
CHECKPOINTED_LAYERS = 4
# A forward pass without gradients keeps about one layer's activations at a time.
INFER_HIDDEN_ELEMENTS, INFER_INTERMEDIATE_ELEMENTS = 4, 3
# a CPU actor's own process beyond what it holds (the default job's peaks: rollout 1.8 GB with its 1 GiB KV cache,
# learner 0.7, oracle 0.13)
PROCESS_GIB = {"learner": 0.7, "rollout": 1.0, "judge": 1.0, "reference": 0.7, "oracle": 0.2}

# Common sizes, for a model folder the dry run cannot read (a path on the cluster): hidden, layers, intermediate, vocab
KNOWN_SHAPES = {0.5: (896, 24, 4864, 151936), 1.5: (1536, 28, 8960, 151936), 3: (2048, 36, 11008, 151936),
                7: (3584, 28, 18944, 152064), 8: (4096, 32, 14336, 128256), 13: (5120, 40, 13824, 32000),
                32: (5120, 64, 27648, 152064), 70: (8192, 80, 28672, 128256)}


@dataclass(frozen=True)
class ModelShape:
    parameters: int
    hidden: int
    layers: int
    intermediate: int
    vocab: int
    source: str  # where the shape was read: config.json, model.tiny, or guessed from the folder's name


@dataclass
class Device:
    name: str
    capacity_gib: float  # 0: not checked
    holdings: list[tuple[str, float, str]] = field(default_factory=list)  # actor, GiB, what

    @property
    def total_gib(self) -> float:
        return sum(gib for _, gib, _ in self.holdings)


def shape_from_config(config: dict, source: str, classifier: bool = False) -> ModelShape:
    """A decoder's parameter count and widths from its config.json (Llama, Qwen2, Mistral and alike)."""
    text = config.get("text_config", config)
    hidden, layers = text["hidden_size"], text["num_hidden_layers"]
    inter, vocab = text.get("intermediate_size", 4 * hidden), text["vocab_size"]
    heads = text.get("num_attention_heads", 1)
    head_dim = text.get("head_dim") or hidden // heads
    kv = text.get("num_key_value_heads", heads) * head_dim
    per_layer = hidden * heads * head_dim * 2 + 2 * hidden * kv + 3 * hidden * inter + 2 * hidden
    head = config.get("num_labels", 1) * hidden if classifier else (0 if text.get("tie_word_embeddings") else vocab * hidden)
    return ModelShape(vocab * hidden + layers * per_layer + hidden + head, hidden, layers, inter, vocab, source)


def read_shape(path: str, tiny: TinyModelConfig, classifier: bool = False) -> ModelShape:
    """The shape of model folder `path` (empty: the tiny model model.tiny builds); a folder this machine cannot
    read is guessed from a size in its name (\"7B\"), or refused."""
    if not path:
        return shape_from_config({"hidden_size": tiny.hidden_size, "num_hidden_layers": tiny.num_layers,
                                  "intermediate_size": tiny.intermediate_size, "vocab_size": tiny.vocab_size,
                                  "num_attention_heads": tiny.num_heads, "tie_word_embeddings": True,
                                  "num_labels": 1}, "model.tiny", classifier)
    config = Path(path) / "config.json"
    if config.is_file():
        return shape_from_config(json.loads(config.read_text()), f"{config}", classifier)
    found = re.search(r"(\d+(?:\.\d+)?)[bB](?![a-zA-Z])", Path(path).name)
    if not found:
        raise ConfigError(f"{path} is not here and its name gives no size (e.g. 7B): run the dry run where the "
                          "folder is, or put its size in the name")
    billions = float(found.group(1))
    nearest = min(KNOWN_SHAPES, key=lambda size: abs(size - billions))
    hidden, layers, inter, vocab = KNOWN_SHAPES[nearest]
    return ModelShape(int(billions * 1e9), hidden, layers, inter, vocab, f"guessed from the name {Path(path).name}")


def micro_batch_tokens(cfg: RunConfig, ranks: int = 1) -> int:
    """The tokens of one learner micro-batch at most: the token budget, or a rank's share of a step's longest batch
    when that is smaller (PPO's updater splits its minibatches by sequences)."""
    longest = cfg.data.max_prompt_tokens + cfg.rollout.max_new_tokens
    if not cfg.learner.max_tokens_per_micro_batch or _has_critic(cfg):
        return cfg.learner.micro_batch_size * longest
    prompts = -(-cfg.train.prompts_per_step // ranks)
    samples = cfg.rollout.samples_per_prompt
    step = (prompts * (cfg.data.max_prompt_tokens + samples * cfg.rollout.max_new_tokens) if cfg.learner.share_prompts
            else prompts * samples * longest)
    return min(cfg.learner.max_tokens_per_micro_batch, step)


def activations_gib(cfg: RunConfig, shape: ModelShape, training: bool, ranks: int = 1) -> float:
    """One micro-batch's activations (training: kept for the backward pass; else one layer's at a time)."""
    tokens = micro_batch_tokens(cfg, ranks)
    logits = tokens * shape.vocab * 4 * (LOGIT_COPIES if training else 2)
    if not training:
        return (tokens * (INFER_HIDDEN_ELEMENTS * shape.hidden + INFER_INTERMEDIATE_ELEMENTS * shape.intermediate) * 4
                + logits) / GIB
    per_layer = TRAIN_HIDDEN_ELEMENTS * shape.hidden + TRAIN_INTERMEDIATE_ELEMENTS * shape.intermediate
    # autocast keeps the matrix products' inputs in bfloat16, the rest (norms, residuals, attention on CPUs) in
    # float32: a CPU learner kept 0.9x float32's activations (bench/memory.py)
    element_bytes = 3.5 if cfg.learner.compute_dtype == "bfloat16" else 4
    if cfg.learner.gradient_checkpointing:
        kept = tokens * shape.hidden * shape.layers * 4 + CHECKPOINTED_LAYERS * tokens * per_layer * element_bytes
    else:
        kept = tokens * per_layer * shape.layers * element_bytes
    return (kept + logits) / GIB


def learner_holdings(cfg: RunConfig, shape: ModelShape, rank: int, ranks: int) -> list[tuple[str, float]]:
    """What one learner rank holds, item by item, in GiB."""
    stage, params = cfg.learner.zero_stage_for(ranks), shape.parameters
    if cfg.model.lora.enabled:  # the base frozen; the adapter's own states are small
        items = [("frozen weights fp32", 4 * params)]
    else:
        items = _trained(params, stage, ranks)
    if cfg.learner.compute_dtype == "bfloat16":
        items.append(("bf16 weight copies", 2 * params))
    if _has_critic(cfg):  # PPO's value model: its own float32 weights, gradients, AdamW and activations (float32)
        items.append(("critic", sum(size for _, size in _trained(params, stage, ranks))))
    if rank == 0 and learner_holds_reference(cfg):
        items.append(("reference fp32", 4 * params))
    items = [(what, size / GIB) for what, size in items] + [("activations", activations_gib(cfg, shape, True, ranks))]
    if _has_critic(cfg):
        float32 = dataclasses.replace(cfg, learner=dataclasses.replace(cfg.learner, compute_dtype="float32"))
        critic = dataclasses.replace(shape, vocab=0)  # a value head, no logits
        items.append(("critic activations", activations_gib(float32, critic, True, ranks)))
    return items


def memory_devices(cfg: RunConfig, plan: Plan, policy: ModelShape, reward: ModelShape | None,
                   judge: ModelShape | None, gpu_gib: float, cpu_gib: float) -> list[Device]:
    """Every device the plan puts an actor on (a GPU bundle, or the node's CPU memory), with what it holds."""
    devices: dict[str, Device] = {}
    ranks = len(plan.slots("learner"))
    for slot in plan.actors:
        on_gpu = slot.gpus > 0 or slot.tensor_parallel > 1
        name = f"GPU {slot.group}[{slot.bundle}]" if on_gpu else "CPU memory"
        device = devices.setdefault(name, Device(name, gpu_gib if on_gpu else cpu_gib))
        items = _actor_holdings(cfg, slot.role, slot.index, ranks, on_gpu, gpu_gib, policy, reward, judge, slot)
        if not on_gpu:
            items.append(("process", PROCESS_GIB[slot.role]))
        device.holdings.append((f"{slot.role} {slot.index}", sum(g for _, g in items),
                                ", ".join(f"{what} {gib:.1f}" for what, gib in items)))
    return list(devices.values())


def _actor_holdings(cfg, role, index, ranks, on_gpu, gpu_gib, policy, reward, judge, slot) -> list[tuple[str, float]]:
    if role == "learner":
        return learner_holdings(cfg, policy, index, ranks)
    if role in ("rollout", "judge") or (role == "reference" and cfg.learner.reference_engine == "vllm"):
        shape = judge if role == "judge" else policy
        if on_gpu:
            return [("vLLM's gpu_memory_utilization share", cfg.rollout.gpu_memory_utilization * gpu_gib)]
        weight_bytes = 4 if cfg.model.dtype == "float32" else 2
        return [(f"weights {cfg.model.dtype}", weight_bytes * shape.parameters / GIB),
                ("KV cache", float(cfg.rollout.kv_cache_gib))]
    shape = reward if role == "oracle" else policy
    if shape is None:  # a rule, function or remote reward: nothing on a device
        return []
    return [("weights fp32", 4 * shape.parameters / GIB), ("activations", activations_gib(cfg, shape, training=False))]


def _trained(params: int, stage: int, ranks: int) -> list[tuple[str, float]]:
    """A trained model's float32 weights, gradients and AdamW moments (bytes), as ZeRO's stage divides them."""
    return [("weights fp32", 4 * params / (ranks if stage == 3 else 1)),
            ("gradients", 4 * params / (ranks if stage >= 2 else 1)),
            ("AdamW", 8 * params / (ranks if stage >= 1 else 1))]


def _has_critic(cfg: RunConfig) -> bool:
    from learner.algorithms import lookup

    return lookup(cfg.algorithm).has_critic


def describe_memory(devices: list[Device]) -> str:
    lines = ["memory (estimated, GiB):"]
    for device in devices:
        room = f" of {device.capacity_gib:.1f}" if device.capacity_gib else " (capacity not checked)"
        lines.append(f"  {device.name}: {device.total_gib:.1f}{room}")
        lines += [f"    {actor}: {gib:.1f} ({what})" for actor, gib, what in device.holdings]
    return "\n".join(lines)


def check_memory(devices: list[Device]) -> None:
    """Refuse a plan whose estimate exceeds a device's capacity, naming the device, its actors and the fixes."""
    for device in devices:
        if device.capacity_gib and device.total_gib > device.capacity_gib:
            actors = ", ".join(f"{actor} {gib:.1f}" for actor, gib, _ in device.holdings)
            raise ConfigError(
                f"the plan does not fit in memory: {device.name} would hold {device.total_gib:.1f} GiB ({actors}) "
                f"and has {device.capacity_gib:.1f} (cluster.gpu_memory_gib / cluster.memory_gib_per_node). Spread the "
                "learner over more ranks with a higher learner.zero_stage (3 divides the weights too), turn on "
                "learner.gradient_checkpointing or lower learner.max_tokens_per_micro_batch (activations), give the "
                "reference and reward model their own GPU (cluster.<role>.pool), or lower "
                "rollout.gpu_memory_utilization where a vLLM engine shares a GPU")
