"""Held-out reward after the same wall-clock training budget, per algorithm and seed, on the toy task.

    python bench/equal_budget.py [--seconds 120] [--seeds 0 1] [--presets default ppo grpo dpo]
    python bench/equal_budget.py --presets default default+train.max_staleness=1   # overrides after a +

Each (preset, seed) is a real run of launch.py with `stopping.max_seconds` (training time: the loop
without held-out evaluation and checkpoints; actor start-up not counted), 20 steps per iteration, and a
held-out evaluation at the end of every iteration (the last one is the reward at the budget). The
same tiny model and held-out prompts for all; the seed sets the prompt order and the sampling.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(preset: str, seed: int, seconds: float, out: Path) -> dict:
    """One run; preset is a file under configs/, optionally with overrides: default+train.max_staleness=1."""
    name, *overrides = preset.split("+")
    command = [sys.executable, "launch.py", "--config", f"configs/{name}.yaml", "--output-dir", str(out),
               f"stopping.max_seconds={seconds}", "train.iterations=1000", "train.steps_per_iteration=20",
               f"train.seed={seed}", *overrides]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{preset} seed {seed} failed:\n{done.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = summary["iterations"]
    return {
        "preset": preset, "seed": seed, "stop": summary["stop_reason"],
        "steps": sum("train/samples" in m for m in metrics),
        "learn_s": summary["phase_seconds"]["learn"],
        "reward_start": rows[0]["eval_reward"], "reward_end": rows[-1]["eval_reward"],
        "kl_end": rows[-1]["kl_to_initial"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--presets", nargs="+", default=["default", "ppo", "grpo", "dpo"])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            for seed in args.seeds:
                results.append(run(preset, seed, args.seconds, Path(tmp) / f"{preset}-{seed}"))
                r = results[-1]
                print(f"{preset} seed {seed}: {r['steps']} steps, reward {r['reward_start']:.3f} -> {r['reward_end']:.3f}",
                      file=sys.stderr)
    print(f"\nHeld-out reward after {args.seconds:g} s of training (toy task, 16 prompts x 4 samples per step)\n")
    print("| preset | seed | steps | learner s | held-out reward start -> at budget | KL to initial |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['preset']} | {r['seed']} | {r['steps']} | {r['learn_s']:.0f} | "
              f"{r['reward_start']:.3f} -> {r['reward_end']:.3f} | {r['kl_end']:.1f} |")
    print("\n| preset | mean held-out reward at budget | mean steps |")
    print("|---|---|---|")
    for preset in args.presets:
        mine = [r for r in results if r["preset"] == preset]
        print(f"| {preset} | {sum(r['reward_end'] for r in mine) / len(mine):.3f} | "
              f"{sum(r['steps'] for r in mine) / len(mine):.0f} |")


if __name__ == "__main__":
    main()
