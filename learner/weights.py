"""Weights as bytes: the in-process transport from the learner to generators and reference scorers."""

from __future__ import annotations

import torch
from safetensors.torch import load, save


def serialize_state_dict(state_dict: dict[str, torch.Tensor]) -> bytes:
    """safetensors bytes of a state dict; tensors that share storage (tied embeddings) are kept once.

    Ray does not carry tensors through vLLM's collective_rpc intact, but bytes survive (ENVIRONMENT.md).
    """
    seen: set[int] = set()
    unique = {}
    for name, tensor in state_dict.items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        unique[name] = tensor.detach().to("cpu").contiguous()
    return save(unique)


def deserialize_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    return load(data)
