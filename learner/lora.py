"""LoRA policies (model.lora): the learner's PEFT wrapping, the adapter it pushes, and the checks made before Ray.

The base weights stay frozen and bit-equal; DeepSpeed optimises the adapter only. A push writes the adapter in
PEFT's folder format (adapter_config.json + adapter_model.safetensors), the format vLLM's LoRA loader reads.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.config import LoraConfig
from core.config_schema import ConfigError

ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter_config.json", "adapter_model.safetensors"
ADAPTER_FOLDER = "adapter"  # a checkpoint's adapter, beside the merged model
OUTPUT_HEAD = "lm_head"
VLLM_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's accepted max_lora_rank values


@dataclass
class AdapterUpdate:
    """A pushed adapter: the folder learner rank 0 wrote in shared memory on host (weight_transport shm), or
    that folder's files (ray, nccl)."""

    folder: str = ""
    host: str = ""
    files: dict[str, bytes] = field(default_factory=dict)


def peft_config(cfg: LoraConfig):
    from peft import LoraConfig as PeftLoraConfig

    targets = "all-linear" if cfg.target_modules == ["all-linear"] else list(cfg.target_modules)
    return PeftLoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=targets,
                          task_type="CAUSAL_LM")


def wrap_with_lora(model: torch.nn.Module, cfg: LoraConfig) -> torch.nn.Module:
    """The model with trainable adapters (cfg.adapter_path's, or fresh ones: B = 0, so the policy starts as the
    base); every base parameter frozen."""
    from peft import PeftModel, get_peft_model

    if cfg.adapter_path:
        return PeftModel.from_pretrained(model, cfg.adapter_path, is_trainable=True)
    return get_peft_model(model, peft_config(cfg))


def adapter_state_dict(model: torch.nn.Module, zero_stage: int) -> dict[str, torch.Tensor]:
    """The adapter's tensors under PEFT's saved names (gathered first under ZeRO-3: every rank must call this)."""
    from peft import get_peft_model_state_dict

    with gathered([p for p in model.parameters() if p.requires_grad], zero_stage):
        return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


def gathered(parameters: list[torch.nn.Parameter], zero_stage: int):
    """Under ZeRO-3 the whole parameters, gathered on every rank while inside (a collective); else nothing to do."""
    if zero_stage != 3:
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(parameters, modifier_rank=None)


def merged_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The policy's full weights under the base model's names: each adapted layer's base weight plus its
    adapter's delta (scale x B A); the module itself is not changed (merging in place would round the base)."""
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    state = {k.replace(".base_layer.", "."): v for k, v in base.state_dict().items() if ".lora_" not in k}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer) and "default" in module.lora_A:
            key = f"{name}.weight"
            state[key] = state[key] + module.get_delta_weight("default").to(state[key].dtype)
    return state


def write_adapter(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], folder: str | Path) -> int:
    """The adapter folder vLLM and PEFT load; returns its bytes."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.peft_config["default"].save_pretrained(str(folder))
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(folder / ADAPTER_WEIGHTS))
    return sum(f.stat().st_size for f in folder.iterdir())


def adapter_files(folder: str | Path) -> dict[str, bytes]:
    """The adapter folder's two files, to send through Ray's object store (cluster.weight_transport ray)."""
    return {name: (Path(folder) / name).read_bytes() for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS)}


def vllm_max_rank(rank: int) -> int:
    return next(r for r in VLLM_RANKS if r >= rank)


def served_modules(cfg: LoraConfig, model_path: str) -> list[str]:
    """The layer names vLLM serves adapters on: the targets, [all-linear] spelled out (every linear layer but the
    output head, as PEFT reads it). Naming them keeps vLLM from wrapping the output head, whose LoRA wrapper
    breaks prompt log-probs on the CPU build (vLLM issue 29955) and drops its delta from them on GPUs (51594)."""
    suffixes = {name.rsplit(".", 1)[-1] for name in _linear_layers(model_path)} - {OUTPUT_HEAD}
    return sorted(suffixes) if cfg.target_modules == ["all-linear"] else list(cfg.target_modules)


def check_lora(cfg: LoraConfig, model_path: str) -> None:
    """Before any actor starts: the target modules name linear layers of the model, and a starting adapter fits
    it (its base model and its tensors' shapes)."""
    linear = _linear_layers(model_path)
    suffixes = {name.rsplit(".", 1)[-1] for name in linear}
    unknown = [t for t in cfg.target_modules if t != "all-linear" and t not in suffixes]
    if unknown:
        raise ConfigError(f"model.lora.target_modules: {unknown} match no linear layer of {model_path}; its linear "
                          f"layers are {sorted(suffixes)} (or use [all-linear])")
    if OUTPUT_HEAD in cfg.target_modules:
        raise ConfigError(f"model.lora.target_modules: {OUTPUT_HEAD} (the output head) cannot take an adapter here: "
                          "vLLM computes the log-probs of given tokens without its adapter; leave it out")
    if cfg.adapter_path:
        _check_adapter(cfg, model_path, linear)


def _linear_layers(model_path: str) -> dict[str, tuple[int, int]]:
    """Every linear layer's name -> (out, in) features, from a skeleton on the meta device (no weights read)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_path))
    return {name: (m.out_features, m.in_features) for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def _check_adapter(cfg: LoraConfig, model_path: str, linear: dict[str, tuple[int, int]]) -> None:
    adapter_path = cfg.adapter_path
    folder = Path(adapter_path)
    if not (folder / ADAPTER_CONFIG).is_file() or not (folder / ADAPTER_WEIGHTS).is_file():
        raise ConfigError(f"model.lora.adapter_path {adapter_path}: not a PEFT adapter folder (it needs "
                          f"{ADAPTER_CONFIG} and {ADAPTER_WEIGHTS}, as PEFT's save_pretrained writes them)")
    config = json.loads((folder / ADAPTER_CONFIG).read_text())
    if config.get("r") != cfg.rank:
        raise ConfigError(f"model.lora.adapter_path {adapter_path} has rank {config.get('r')}; set model.lora.rank "
                          f"to it (got {cfg.rank})")
    base = config.get("base_model_name_or_path") or ""
    if os.path.isdir(base) and _model_config(base) != _model_config(model_path):
        raise ConfigError(f"model.lora.adapter_path {adapter_path} was trained on {base}, whose config differs from "
                          f"model.path {model_path}; an adapter only fits the base it was trained on")
    from safetensors import safe_open

    with safe_open(str(folder / ADAPTER_WEIGHTS), "pt") as tensors:
        for key in tensors.keys():
            layer, part = _adapted_layer(key)
            shape = tuple(tensors.get_slice(key).get_shape())
            if layer not in linear or not _fits(shape, part, linear[layer]):
                raise ConfigError(f"model.lora.adapter_path {adapter_path}: its tensor {key} {list(shape)} fits no "
                                  f"linear layer of {model_path}; the adapter was trained on another base model")


def _adapted_layer(key: str) -> tuple[str, str]:
    """'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight' -> ('model.layers.0.self_attn.q_proj', 'lora_A')."""
    name = key.removeprefix("base_model.model.")
    for part in ("lora_A", "lora_B"):
        if f".{part}." in name:
            return name.split(f".{part}.")[0], part
    return name, ""


def _fits(shape: tuple[int, ...], part: str, features: tuple[int, int]) -> bool:
    out_features, in_features = features
    return (part == "lora_A" and shape[1] == in_features) or (part == "lora_B" and shape[0] == out_features)


def _model_config(path: str) -> dict:
    config = json.loads((Path(path) / "config.json").read_text())
    return {k: v for k, v in config.items() if k not in ("_name_or_path", "transformers_version", "architectures")}
