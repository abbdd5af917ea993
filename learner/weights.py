"""Weights as bytes: the Ray transport from the learner to generators and reference scorers.

Exported in buckets (safetensors blobs of at most a set size), not one tensor at a time and not one blob
of the whole model: a receiver loads bucket after bucket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load, save


def serialize_state_dict(state_dict: dict[str, torch.Tensor]) -> bytes:
    """safetensors bytes of a state dict (one bucket)."""
    return save(unique_tensors(state_dict))


def serialize_buckets(state_dict: dict[str, torch.Tensor], bucket_bytes: int) -> list[bytes]:
    """The state dict as safetensors buckets of at most bucket_bytes each (a larger tensor is a bucket alone).

    Ray does not carry tensors through vLLM's collective_rpc intact, but bytes survive (found on vLLM 0.32).
    """
    buckets, current, size = [], {}, 0
    for name, tensor in unique_tensors(state_dict).items():
        nbytes = tensor.numel() * tensor.element_size()
        if current and size + nbytes > bucket_bytes:
            buckets.append(save(current))
            current, size = {}, 0
        current[name] = tensor
        size += nbytes
    if current:
        buckets.append(save(current))
    return buckets


def deserialize_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    return load(data)


def iter_buckets(buckets: list[bytes]) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) pairs, one bucket in memory as tensors at a time."""
    for data in buckets:
        yield from load(data).items()


def load_model_weights(path: str, parameters_only: bool = False) -> dict[str, torch.Tensor]:
    """A Hugging Face causal LM folder's weights in fp32: its full state dict (a tied tensor under each of its
    names), or each parameter once (parameters_only)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    weights = dict(model.named_parameters()) if parameters_only else model.state_dict()
    return {name: tensor.detach() for name, tensor in weights.items()}


class ModelTensors:
    """A Hugging Face folder's safetensors weights read one tensor at a time (fp32), for a rank that needs
    only its share of each: a model's worth of memory is never held."""

    def __init__(self, path: str):
        folder = Path(path)
        index = folder / "model.safetensors.index.json"
        if index.is_file():
            self.files = {name: folder / file for name, file in json.loads(index.read_text())["weight_map"].items()}
        elif (folder / "model.safetensors").is_file():
            with safe_open(folder / "model.safetensors", framework="pt") as f:
                self.files = {name: folder / "model.safetensors" for name in f.keys()}
        else:
            raise ValueError(f"{path} has no safetensors weights (model.safetensors or its index); "
                             "save the model with save_pretrained(folder, safe_serialization=True)")

    def __contains__(self, name: str) -> bool:
        return name in self.files

    def __getitem__(self, name: str) -> torch.Tensor:
        with safe_open(self.files[name], framework="pt") as f:
            return f.get_tensor(name).float()


def unique_tensors(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors that share storage (tied embeddings) are kept once; safetensors refuses shared storage."""
    seen: set[int] = set()
    unique = {}
    for name, tensor in state_dict.items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        unique[name] = tensor.detach().to("cpu").contiguous()
    return unique
