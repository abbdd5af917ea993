"""learner.compile: the policy's and the reference's models through torch.compile (TorchInductor), which fuses
the elementwise work around the matrix products (RMSNorm, rotary, SiLU, residual adds) into generated kernels.
On a CPU those are C++ that inductor builds with the machine's compiler, once per shape family, at the first
steps (about a minute at 25M on 2 cores; later runs reuse inductor's on-disk cache). docs/throughput.md."""

from __future__ import annotations

import torch


def compile_model(model: torch.nn.Module, enabled: bool) -> None:
    """Compile the model in place (nn.Module.compile: the module, its parameters and their names stay as they
    are, so DeepSpeed, weight pushes and checkpoints see the same model). dynamic: micro-batches of any shape
    share one compiled graph instead of one each."""
    if enabled:
        model.compile(dynamic=True)


def missing_compiler() -> str | None:
    """Why inductor could not build CPU kernels on this machine (no C++ compiler), or None when it can."""
    from torch._inductor import cpp_builder, exc

    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler as err:
        return (f"learner.compile on a CPU needs a C++ compiler for torch inductor's kernels and found none ({err}); "
                "install one (apt-get install g++, or set CXX) or set learner.compile false")
    return None
