"""Where a process computes: its GPU when Ray gave it one (CUDA_VISIBLE_DEVICES then names only that one), else the CPU.

Everything that builds tensors for a model moves them to the model's device, so the CPU path here and the
GPU path on a cluster are the same code; only this choice differs.
"""

from __future__ import annotations

import torch


def compute_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
