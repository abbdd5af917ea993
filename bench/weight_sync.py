"""Weight-push bandwidth (where a training step's time goes: bench/throughput.py).

    python bench/weight_sync.py [--sizes 1 10 30 100] [--transports ray shm] [--repeats 3]

For Llama-style models of about 1M to 100M parameters (fp32), a DeepSpeed learner actor and a vLLM
rollout engine actor; one push with cluster.weight_transport ray is the learner exporting its weights in
safetensors buckets through Ray's object store and the engine loading them; with shm, the learner writing
them into shared memory and the engine loading them through vLLM's weight-transfer API. Prints the median
seconds of a push (export, load), the bandwidth in MB/s of fp32 weights, and a plain memcpy's bandwidth
for the same tensors.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# hidden size, layers (head size 64, MLP 4x hidden, vocabulary 320): about 1M, 10M, 30M and 100M parameters
SHAPES = {1: (128, 4), 10: (384, 4), 30: (512, 7), 100: (768, 11)}


def tiny(millions: int, cache_dir: str):
    from core.config import TinyModelConfig

    hidden, layers = SHAPES[millions]
    return TinyModelConfig(hidden_size=hidden, num_layers=layers, num_heads=hidden // 64,
                           intermediate_size=4 * hidden, cache_dir=cache_dir)


def push_seconds(millions: int, repeats: int, bucket_mb: int, cache_dir: str, transport: str) -> dict:
    import ray
    import torch

    from actors.rollout import RolloutEngine
    from bench.floors import median_seconds
    from core.config import AlgorithmConfig, LearnerConfig, RolloutConfig
    from learner.engine import PolicyLearner
    from learner.weights import load_model_weights
    from models.tiny import build_tiny_model

    path = str(build_tiny_model(tiny(millions, cache_dir)))
    threads = {"runtime_env": {"env_vars": {"OMP_NUM_THREADS": str(os.cpu_count())}}}  # as a run's actors get
    learner = ray.remote(num_cpus=0)(PolicyLearner).options(**threads).remote(
        path, LearnerConfig(), AlgorithmConfig(), 16, 0, bucket_mb=bucket_mb)
    engine = ray.remote(num_cpus=0)(RolloutEngine).options(**threads).remote(
        path, RolloutConfig(), "float32", 128, 0, weight_transport=transport)
    try:
        exports, loads = [], []
        for version in range(1, repeats + 2):  # the first push warms up
            started = time.perf_counter()
            if transport == "shm":
                update = ray.get(learner.write_shared_weights.remote())
                exported = time.perf_counter()
                ray.get(engine.load_shared_weights.remote(update, version))
            else:
                update = learner.export_weights.remote()
                ray.wait([update], fetch_local=False)
                exported = time.perf_counter()
                ray.get(engine.load_weights.remote(update, version))
            if version > 1:
                exports.append(exported - started)
                loads.append(time.perf_counter() - exported)
    finally:
        ray.kill(learner)
        ray.kill(engine)
    weights = list(load_model_weights(path, parameters_only=True).values())
    copies = [torch.empty_like(t) for t in weights]
    memcpy = median_seconds(lambda: [c.copy_(t) for c, t in zip(copies, weights)], repeats)
    parameters = sum(t.numel() for t in weights)
    export, load = statistics.median(exports), statistics.median(loads)
    megabytes = parameters * 4 / 1e6
    return {"params_m": parameters / 1e6, "mb": megabytes, "export": export, "load": load,
            "mb_per_s": megabytes / (export + load), "memcpy_mb_per_s": megabytes / memcpy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SHAPES), choices=list(SHAPES),
                        help="model sizes in millions of parameters")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bucket-mb", type=int, default=256)
    parser.add_argument("--transports", nargs="+", default=["ray", "shm"], choices=["ray", "shm"])
    args = parser.parse_args()
    import ray

    from core.device import cpu_description

    models = tempfile.TemporaryDirectory(prefix="bench-models-")  # removed when the benchmark ends
    cache_dir = models.name
    ray.init(address="local", include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    rows = [(transport, push_seconds(m, args.repeats, args.bucket_mb, cache_dir, transport))
            for m in args.sizes for transport in args.transports]
    ray.shutdown()
    print(f"\n{cpu_description()}")
    print(f"Weight push into one vLLM engine (ray: safetensors buckets of {args.bucket_mb} MB; shm: one file in "
          f"shared memory through vLLM's weight-transfer API), median of {args.repeats} pushes\n")
    print("| parameters | transport | fp32 MB | export s | load into vLLM s | MB/s | memcpy MB/s | push / memcpy |")
    print("|---|---|---|---|---|---|---|---|")
    for transport, r in rows:
        print(f"| {r['params_m']:.1f}M | {transport} | {r['mb']:.0f} | {r['export']:.3f} | {r['load']:.3f} "
              f"| {r['mb_per_s']:.0f} | {r['memcpy_mb_per_s']:.0f} | {r['mb_per_s'] / r['memcpy_mb_per_s']:.2f} |")


if __name__ == "__main__":
    main()
