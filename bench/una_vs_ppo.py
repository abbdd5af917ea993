"""Learner cost of UNA against PPO on identical rollouts: seconds per step, peak memory, model copies.

    python bench/una_vs_ppo.py [--hidden 512 --layers 8 --steps 5]

Each algorithm runs in a fresh process (so peak resident memory is its own): the same tiny-model
architecture, the same 64 samples (16 prompts x 4, 32 response tokens), the same micro-batch size.
UNA: one optimizer step per batch against reference log-probs. PPO: old log-probs and values recomputed,
GAE, 2 epochs x 2 minibatches, a critic with its own DeepSpeed engine. Reference log-probs are given to
both (the reference scorer is a separate actor in the system, identical for both).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _samples(vocab: int, seed: int = 0):
    from core.records import Sample

    rng = random.Random(seed)
    samples = []
    for i in range(64):
        prompt = [rng.randrange(7, vocab) for _ in range(12)]
        response = [rng.randrange(7, vocab) for _ in range(32)]
        samples.append(Sample(f"s{i}", f"p{i // 4}", "", prompt, response, "", [-5.0] * 32, "length", 0, 0, 0))
    rewards = [rng.random() for _ in samples]
    return samples, rewards


def worker(algorithm: str, model_path: str, steps: int) -> dict:
    import torch

    from core.config import AlgorithmConfig, LearnerConfig
    from core.records import Signal
    from learner.algorithms.ppo import PPOTrainer
    from learner.engine import PolicyLearner
    from learner.objectives import LearnerBatch

    torch.set_num_threads(2)
    learner = PolicyLearner(model_path, LearnerConfig(micro_batch_size=16), AlgorithmConfig(name=algorithm, beta=0.02),
                            64, seed=0)
    samples, rewards = _samples(learner.engine.module.config.vocab_size)
    reference = learner.sequence_logprobs(samples)
    batch = LearnerBatch(samples, reference, Signal("scores", scores=rewards))
    learner.train_step(batch)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        learner.train_step(batch)
    seconds = (time.perf_counter() - start) / steps
    copies = 2 if isinstance(learner.updater, PPOTrainer) else 1  # trained models in the learner: policy (+ critic)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"algorithm": algorithm, "seconds_per_step": seconds, "peak_rss_mb": peak_mb,
            "trained_models": copies, "models_in_system": copies + 1}  # + the reference scorer's copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.model, args.steps)))
        return

    from core.config import TinyModelConfig
    from models.tiny import build_tiny_model

    cache = Path(tempfile.gettempdir()) / "una_align_bench_models"
    config = TinyModelConfig(hidden_size=args.hidden, num_layers=args.layers, num_heads=args.hidden // 64,
                             intermediate_size=4 * args.hidden, cache_dir=str(cache))
    model = build_tiny_model(config)
    results = []
    for algorithm in ("una", "ppo"):
        run = subprocess.run([sys.executable, __file__, "--worker", algorithm, "--model", str(model), "--steps", str(args.steps)],
                             capture_output=True, text=True, check=True)
        results.append(json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:]))
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(model)
    print(f"model: Llama, hidden {cfg.hidden_size}, {cfg.num_hidden_layers} layers; 64 samples x 32 tokens per step")
    print(f"{'algorithm':>9} {'learner s/step':>15} {'peak RSS MB':>12} {'trained models':>15} {'models held':>12}")
    for r in results:
        print(f"{r['algorithm']:>9} {r['seconds_per_step']:>15.3f} {r['peak_rss_mb']:>12.0f} {r['trained_models']:>15} "
              f"{r['models_in_system']:>12}")
    una, ppo = results
    print(f"PPO / UNA: {ppo['seconds_per_step'] / una['seconds_per_step']:.2f}x time, "
          f"{ppo['peak_rss_mb'] / una['peak_rss_mb']:.2f}x learner memory")


if __name__ == "__main__":
    main()
