"""Where a process computes: its GPU when Ray gave it one (CUDA_VISIBLE_DEVICES then names only that one), else the CPU.

Everything that builds tensors for a model moves them to the model's device, so the CPU path here and the
GPU path on a cluster are the same code; only this choice differs.
"""

from __future__ import annotations

import os
import platform

import torch


def compute_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_has_native_bfloat16() -> bool | None:
    """Whether this machine's CPU multiplies bfloat16 in hardware (x86: AVX512-BF16 or AMX); None where torch
    cannot tell (other architectures). Without it torch and vLLM emulate bfloat16 in float32 arithmetic plus
    conversions: slower than float32, not faster (docs/throughput.md: the settings behind the speed)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    cpu = torch.cpu
    return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                or getattr(cpu, "_is_amx_tile_supported", lambda: False)())


def cpu_description() -> str:
    """This machine's CPU in one line (benchmarks print it: CPU kinds differ between machines, and so do their
    figures, bfloat16's most of all)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    native = {True: "bfloat16 instructions", False: "no bfloat16 instructions (emulated)", None: "bfloat16 unknown"}
    return (f"{model}, {os.cpu_count()} cores, torch's kernels {torch.backends.cpu.get_cpu_capability()}, "
            f"{native[cpu_has_native_bfloat16()]}")
