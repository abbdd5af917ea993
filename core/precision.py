"""learner.compute_dtype and model.dtype `auto`: bfloat16 where the hardware computes it natively, float32 elsewhere.

Decided once, by launch.py before Ray starts, from where the config places the actors: the learner's matrix
products on GPUs (every CUDA GPU we target has bfloat16 units) or on this machine's CPU (bfloat16 instructions:
AVX512-BF16 or AMX); the rollout engines' weights likewise. Without native support torch and vLLM emulate
bfloat16 in float32 arithmetic plus conversions, slower than float32 (docs/throughput.md). An explicit float32
or bfloat16 is kept as written. The lab measured the two precisions' learning curves level (docs/lab.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import RunConfig


@dataclass(frozen=True)
class Precision:
    compute_dtype: str  # learner.compute_dtype as run (the learner's and reference scorer's matrix products)
    serving_dtype: str  # model.dtype as run (the rollout engines' weights)
    reason: str  # one line for the log, summary.json and the model card

    def to_dict(self) -> dict[str, str]:
        return {"compute_dtype": self.compute_dtype, "serving_dtype": self.serving_dtype, "reason": self.reason}


def auto_dtype(on_gpu: bool) -> tuple[str, str]:
    """What `auto` means for an actor on a GPU or on this machine's CPU, and why."""
    if on_gpu:
        return "bfloat16", "GPUs compute bfloat16 natively"
    from core.device import cpu_has_native_bfloat16  # imports torch: only when asked

    native = cpu_has_native_bfloat16()
    if native:
        return "bfloat16", "this CPU has bfloat16 instructions (AVX512-BF16 or AMX)"
    if native is None:
        return "float32", "torch cannot tell whether this CPU computes bfloat16 natively"
    return "float32", "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX), so bfloat16 would be emulated"


def concrete_dtype(name: str, on_gpu: bool) -> str:
    """A dtype name with `auto` resolved (for code that builds a learner or engine without launch.py)."""
    return auto_dtype(on_gpu)[0] if name == "auto" else name


def resolve_precision(cfg: RunConfig) -> Precision:
    """Replace `auto` in learner.compute_dtype and model.dtype with what this placement computes natively."""
    parts = []
    for section, key, gpus, what in ((cfg.learner, "compute_dtype", cfg.cluster.learner.gpus, "learner"),
                                     (cfg.model, "dtype", cfg.cluster.rollout.gpus, "rollout engines")):
        value = getattr(section, key)
        if value == "auto":
            value, why = auto_dtype(gpus > 0)
            setattr(section, key, value)
            parts.append(f"{what} {value} (auto: {why})")
        else:
            parts.append(f"{what} {value} (set in the config)")
    return Precision(cfg.learner.compute_dtype, cfg.model.dtype, "; ".join(parts))
