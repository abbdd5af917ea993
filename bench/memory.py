"""A learner rank's peak memory against what the dry run's estimate says (core/memory_plan.py).

    python bench/memory.py [--sizes 25m 100m] [--variants "learner.compute_dtype=bfloat16" ...] [--steps 3]

For each size and setting, a process of its own (its peak resident memory is its own): one learner rank as the
default job runs it (learner.reference_engine learner: rank 0 holds the reference copy; one rank, ZeRO stage 0),
the default step's batch (16 prompts x 4 responses of up to 32 tokens) for --steps updates, then one weight push
into shared memory. Prints the process's memory above its bare self (after the imports) at each stage, its peak,
and the estimate beside it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throughput import SIZES, model_shape  # noqa: E402

GIB = 2**30


def rss_gib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / GIB


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


def measure(size: str, variant: str, steps: int, cache_dir: str) -> dict:
    """In this process: the learner's memory stage by stage (GiB above the process after its imports)."""
    import torch  # noqa: F401  (imported before the bare reading, as a learner actor has it)

    from bench.floors import synthetic_samples, una_signal
    from core.config import TinyModelConfig, load_config
    from learner.engine import PolicyLearner, init_process_group
    from learner.objectives import LearnerBatch
    from models.tiny import build_tiny_model

    cfg = load_config(None, [f"model.tiny.{k}={v}" for k, v in model_shape(size).items()] + variant.split())
    path = str(build_tiny_model(TinyModelConfig(cache_dir=cache_dir, **model_shape(size))))
    init_process_group()
    bare = rss_gib()
    stages = {}
    learner = PolicyLearner(path, cfg.learner, cfg.algorithm, 64, 0, holds_reference=True)
    stages["learner and reference loaded"] = rss_gib() - bare
    samples = synthetic_samples(64, (12, 20), 32, vocab=200)
    for _ in range(steps):
        batch = LearnerBatch(samples, learner.score(samples), una_signal(samples))
        learner.train_step(batch)
    stages[f"after {steps} updates"] = rss_gib() - bare
    learner.write_shared_weights()
    stages["after a weight push (shm)"] = rss_gib() - bare
    stages["peak"] = peak_gib() - bare
    return {"stages": stages, "parameters": sum(p.numel() for p in learner.engine.module.parameters()), "bare": bare}


def estimate(size: str, variant: str) -> tuple[float, str]:
    from core.config import load_config
    from core.memory_plan import learner_holdings, read_shape
    from core.precision import resolve_precision

    cfg = load_config(None, [f"model.tiny.{k}={v}" for k, v in model_shape(size).items()] + variant.split())
    resolve_precision(cfg)  # as launch.py does: the estimate of the precision the learner will compute in
    items = learner_holdings(cfg, read_shape("", cfg.model.tiny), 0, 1)
    return sum(g for _, g in items), ", ".join(f"{what} {gib:.2f}" for what, gib in items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["25m", "100m"], choices=[s for s in SIZES if s != "tiny"])
    parser.add_argument("--variants", nargs="*", default=[""], help='settings, e.g. "learner.compute_dtype=bfloat16"')
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cache-dir", default="~/.cache/una_align/bench_models")
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.steps, args.cache_dir)))
        return
    from core.config import TinyModelConfig
    from models.tiny import build_tiny_model

    for size in args.sizes:  # built here: a build inside a measured process would leave its memory to be reused
        build_tiny_model(TinyModelConfig(cache_dir=args.cache_dir, **model_shape(size)))
    print("GiB above the process after its imports (bare), one learner rank (float32 weights, reference copy held)\n")
    print("| size | settings | parameters | bare | loaded | after updates | after a push | peak | estimate | "
          "peak / estimate |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for variant in args.variants:
            done = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--cache-dir", args.cache_dir,
                                   "--child", size, variant], capture_output=True, text=True, cwd=ROOT)
            if done.returncode:
                raise SystemExit(f"{size} {variant}: failed\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            stages = list(result["stages"].values())
            expected, parts = estimate(size, variant)
            print(f"| {size} | {variant or 'defaults'} | {result['parameters'] / 1e6:.1f}M | {result['bare']:.2f} | "
                  + " | ".join(f"{g:.2f}" for g in stages) + f" | {expected:.2f} | {stages[-1] / expected:.2f} |",
                  flush=True)
            print(f"|  | estimate: {parts} |", flush=True)


if __name__ == "__main__":
    main()
