"""The one call that moves the learner's new weights into the rollout engines (and the reference).

Two transports behind it (cluster.weight_transport): ray, safetensors buckets exported once by learner rank 0
and fetched by every receiver from Ray's object store (CPU, small models); nccl, vLLM's NCCL weight-transfer
engine from learner rank 0 straight into every engine's workers (GPUs). The reference scorer is a
transformers model, not a vLLM engine: it always takes the buckets.
"""

from __future__ import annotations

import ray

from actors.calls import wait
from actors.group import Actors


def push_weights(actors: Actors, version: int, reference: bool, ema_rate: float | None = None,
                 ) -> ray.ObjectRef | None:
    """Returns the exported buckets' object reference (None when nothing was exported: nccl, no reference)."""
    calls: dict[str, ray.ObjectRef] = {}
    weights = None
    if actors.transport == "nccl":
        engines = actors.rollout.engines
        actors.learner.send_weights_nccl(engines, actors.rollout.workers)
        calls |= {f"rollout engine {i}: update_weight_version": e.update_weight_version.remote(str(version))
                  for i, e in enumerate(engines)}
    else:
        weights = actors.learner.export_weights()
        calls |= actors.rollout.load_weights(weights, version)
    if reference:
        weights = weights or actors.learner.export_weights()
        calls["reference: load_weights"] = actors.reference.load_weights.remote(weights, version, ema_rate)
    wait(calls, actors.timeout_s)
    return weights


def verify_sync(actors: Actors, samples, tolerance: float, version: int) -> float:
    """The largest difference between the engines' and the learner's log-probs of the same tokens."""
    engine = actors.rollout.response_logprobs(samples)
    learner = actors.learner.sequence_logprobs(samples)
    diff = max((abs(a - b) for ea, la in zip(engine, learner) for a, b in zip(ea, la)), default=0.0)
    if diff > tolerance:
        raise RuntimeError(f"weight sync check failed: the rollout engine's log-probs differ from the learner's "
                           f"by up to {diff:.2e} (tolerance {tolerance:.0e}) after pushing version {version}")
    return diff
