"""The one call that moves the learner's new weights into the rollout engines.

Three transports behind it (cluster.weight_transport): ray, safetensors buckets exported once by learner rank 0
and fetched by every receiver from Ray's object store (any node); shm, learner rank 0 writes the weights once
into shared memory and every engine on its machine loads them through vLLM's weight-transfer API
(learner/shm_weights.py, one machine); nccl, vLLM's NCCL weight-transfer engine from learner rank 0 straight
into every engine's workers (GPUs). The reference scorer is a transformers model, not a vLLM engine: it always
takes the buckets (PolicySync.load_reference). A LoRA policy (model.lora) pushes its adapter only, with shm as a
folder in shared memory, with ray and nccl as the folder's files through Ray's object store (an adapter is a
few MB and vLLM's LoRA loader reads a folder); each engine serves it as a new vLLM LoRA adapter.
"""

from __future__ import annotations

import ray

from actors.calls import wait
from actors.learner_group import LearnerGroup
from actors.rollout_pool import RolloutPool


def push_weights(learner: LearnerGroup, rollout: RolloutPool, version: int, timeout_s: float,
                 transport: str = "ray", lora: bool = False) -> ray.ObjectRef | None:
    """The learner's weights into every rollout engine. Returns the exported buckets' object reference (None
    with the nccl and shm transports and with LoRA, which export none); the reference scorer loads those buckets."""
    calls: dict[str, ray.ObjectRef] = {}
    weights = None
    if lora:
        calls |= rollout.load_adapter(learner.export_adapter(shared_memory=transport == "shm"), version)
    elif transport == "nccl":
        learner.send_weights_nccl(rollout.engines, rollout.workers)
        calls |= {f"rollout engine {i}: update_weight_version": e.update_weight_version.remote(str(version))
                  for i, e in enumerate(rollout.engines)}
    elif transport == "shm":
        calls |= rollout.load_shared_weights(learner.write_shared_weights(), version)
    else:
        weights = learner.export_weights()
        calls |= rollout.load_weights(weights, version)
    wait(calls, timeout_s)
    return weights


def verify_sync(rollout: RolloutPool, learner: LearnerGroup, samples, tolerance: float, version: int) -> float:
    """The largest difference between the engines' and the learner's log-probs of the same tokens."""
    engine = rollout.score(samples)
    policy = learner.sequence_logprobs(samples, exact=True)
    diff = max((abs(a - b) for ea, la in zip(engine, policy) for a, b in zip(ea, la)), default=0.0)
    if diff > tolerance:
        raise RuntimeError(f"weight sync check failed: the rollout engine's log-probs differ from the learner's "
                           f"by up to {diff:.2e} (tolerance {tolerance:.0e}) after pushing version {version}")
    return diff
