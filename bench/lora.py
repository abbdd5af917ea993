"""Full fine-tuning against LoRA policies (model.lora), online UNA through launch.py, on one idle machine.

    python bench/lora.py [--size 25m] [--ranks 8 64] [--merged-ranks 8] [--seeds 0 1] [--steps 20] [--no-full]

For each variant (full, then LoRA at each rank served as an adapter, then at each --merged-ranks rank with
model.lora.serve merged) and seed: a run of --steps steps (two iterations), then a table
with what a push moves (the adapter's bytes, or the full weights'), the push's median seconds (time/sync), the
learner's median seconds a step (time/learn), the learner's peak memory, the actors held, and the held-out reward
before and after. Full fine-tuning uses learner.lr --full-lr, LoRA --lora-lr (LoRA is usually given a larger step).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throughput import model_overrides  # noqa: E402


def run(variant: str, rank: int, lr: float, serve: str, size: str, seed: int, steps: int, out: Path,
        cache_dir: str) -> dict:
    lora = ["model.lora.enabled=true", f"model.lora.rank={rank}", f"model.lora.alpha={2 * rank}",
            f"model.lora.serve={serve}"] if rank else []
    command = [sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={cache_dir}",
               "train.iterations=2", f"train.steps_per_iteration={steps // 2}", "data.toy_eval_prompts=32",
               f"train.seed={seed}", f"learner.lr={lr}", *lora, *model_overrides(size)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "RAY_ADDRESS": "local"},
                          timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"launch.py ({variant}, seed {seed}) failed:\n{done.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in rows if "time/total" in r][2:]  # after two warm-up steps
    checkpoint = out / "checkpoints" / "iteration-2"
    adapter_pushed = rank and serve == "adapter"
    pushed = checkpoint / "adapter" / "adapter_model.safetensors" if adapter_pushed else checkpoint / "model.safetensors"
    rewards = [row["eval_reward"] for row in summary["iterations"]]
    return {"push_mb": pushed.stat().st_size / 2**20, "push_s": statistics.median(r["time/sync"] for r in timed),
            "learn_s": statistics.median(r["time/learn"] for r in timed),
            "step_s": statistics.median(r["time/total"] for r in timed),
            "learner_mb": summary["peak_memory_mb"]["learner"], "actors": sorted(summary["peak_memory_mb"]),
            "reward_before": rewards[0], "reward_after": rewards[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="25m", choices=["tiny", "25m", "100m"])
    parser.add_argument("--ranks", type=int, nargs="*", default=[8, 64])
    parser.add_argument("--merged-ranks", type=int, nargs="*", default=[8])
    parser.add_argument("--no-full", action="store_true", help="leave out full fine-tuning (push shares then unknown)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--full-lr", type=float, default=1e-3)
    parser.add_argument("--lora-lr", type=float, default=1e-2)
    args = parser.parse_args()
    models = tempfile.TemporaryDirectory(prefix="bench-models-")  # removed when the benchmark ends
    cache_dir = models.name
    variants = [] if args.no_full else [("full", 0, args.full_lr, "adapter")]
    variants += [(f"lora r{r}", r, args.lora_lr, "adapter") for r in args.ranks]
    variants += [(f"lora r{r} merged", r, args.lora_lr, "merged") for r in args.merged_ranks]
    results = {}
    for name, rank, lr, serve in variants:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as folder:
                results[name, seed] = run(name, rank, lr, serve, args.size, seed, args.steps, Path(folder) / "run",
                                          cache_dir)
                print(name, seed, results[name, seed], flush=True)
    full_mb = statistics.mean(results["full", s]["push_mb"] for s in args.seeds) if not args.no_full else float("nan")
    print(f"\n{args.size}, {args.steps} steps of online UNA, seeds {args.seeds} (medians over the seeds' steps)")
    print("| variant | push MB (share of full) | push s | learn s/step | step s | learner peak MB | actors | "
          "held-out reward before -> after (per seed) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, *_ in variants:
        rows = [results[name, s] for s in args.seeds]
        mean = {key: statistics.mean(r[key] for r in rows) for key in ("push_mb", "push_s", "learn_s", "step_s",
                                                                        "learner_mb")}
        rewards = ", ".join(f"{r['reward_before']:.3f} -> {r['reward_after']:.3f}" for r in rows)
        print(f"| {name} | {mean['push_mb']:.2f} ({mean['push_mb'] / full_mb:.1%}) | {mean['push_s']:.3f} | "
              f"{mean['learn_s']:.2f} | {mean['step_s']:.2f} | {mean['learner_mb']:.0f} | {len(rows[0]['actors'])} "
              f"({', '.join(rows[0]['actors'])}) | {rewards} |")


if __name__ == "__main__":
    main()
