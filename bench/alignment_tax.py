"""The alignment tax on the toy task: held-out reward against the guard metric (the supervised warm
start's skill, naming the prompt's topics) for sequential training with plain AdamW, OnDARE, OnTIES,
and parallel-train-then-merge (PAFT), per seed.

    python bench/alignment_tax.py [--seeds 0 1] [--iterations 4] [--steps 50] [--reserve 0.1] [--alpha 1e-3]

sequential: the warm-started model (model.tiny.sft_steps=600) aligned by the default UNA job.
ondare / onties: the same with learner.merging (tau = warm-started - random tiny model).
paft: the random tiny model aligned by the same job in parallel (no warm start), then merged with the
warm-started model by TIES (learner/merge_models.py, the SFT delta trimmed to --density) and evaluated on
the same held-out prompts (a run with train.iterations=0).
paft-l1: the same, but the warm start has PAFT's L1 penalty (model.tiny.sft_l1 = --sft-l1), so its delta is
sparse as trained (with 0.3, sparser than --density: the merge's trim then keeps all of it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SFT_STEPS = 600
METHODS = ("sequential", "ondare", "onties", "paft", "paft-l1")


def launch(out: Path, *overrides: str) -> dict:
    command = [sys.executable, "launch.py", "--output-dir", str(out), *overrides]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(overrides)} failed:\n{done.stderr[-3000:]}")
    return json.loads((out / "summary.json").read_text())


def row(method: str, seed: int, summary: dict) -> dict:
    first, last = summary["iterations"][0], summary["iterations"][-1]
    return {"method": method, "seed": seed, "reward": last["eval_reward"], "guard": last["guard"],
            "guard_start": first["guard"], "kl": last["kl_to_initial"]}


def paft_row(tmp: Path, method: str, seed: int, aligned: dict, sft_l1: float, density: float) -> dict:
    """Warm-start the base model (SFT) and TIES-merge it with the one aligned in parallel; evaluate the merge."""
    from learner.merge_models import merge_models

    sft = launch(tmp / f"{method}-sft-{seed}", f"train.seed={seed}", "train.iterations=0",
                 f"model.tiny.sft_steps={SFT_STEPS}", f"model.tiny.sft_l1={sft_l1}")
    merged = merge_models(aligned["model_path"], sft["model_path"], aligned["paths"]["checkpoints"][-1],
                          str(tmp / f"{method}-{seed}-model"), "ties", density)
    evaluated = launch(tmp / f"{method}-{seed}", f"train.seed={seed}", "train.iterations=0", f"model.path={merged}")
    label = f"{method} (SFT delta {delta_density(aligned['model_path'], sft['model_path']):.1%} non-zero)"
    return row(label, seed, evaluated) | {"guard_start": sft["iterations"][0]["guard"],
                                          "kl": None}  # no initial policy to compare


def delta_density(base: str, sft: str) -> float:
    from learner.weights import load_model_weights

    base_w, sft_w = load_model_weights(base, parameters_only=True), load_model_weights(sft, parameters_only=True)
    return sum(int((sft_w[n] != b).sum()) for n, b in base_w.items()) / sum(b.numel() for b in base_w.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--reserve", type=float, default=0.1, help="learner.merge_reserve_rate p")
    parser.add_argument("--alpha", type=float, default=1e-3, help="learner.merge_alpha")
    parser.add_argument("--density", type=float, default=0.2, help="PAFT: fraction of the SFT delta kept")
    parser.add_argument("--sft-l1", type=float, default=0.3, help="PAFT-L1: the warm start's L1 penalty")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                        help="which rows to run (a sweep of p and alpha needs only ondare and onties)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            common = [f"train.seed={seed}", f"train.iterations={args.iterations}",
                      f"train.steps_per_iteration={args.steps}"]
            warm = [*common, f"model.tiny.sft_steps={SFT_STEPS}"]
            done = len(results)
            if "sequential" in args.methods:
                results.append(row("sequential AdamW", seed, launch(Path(tmp) / f"sequential-{seed}", *warm)))
            for method in ("ondare", "onties"):
                if method in args.methods:
                    summary = launch(Path(tmp) / f"{method}-{seed}", *warm, f"learner.merging={method}",
                                     f"learner.merge_reserve_rate={args.reserve}", f"learner.merge_alpha={args.alpha}")
                    results.append(row(method, seed, summary))
            if "paft" in args.methods or "paft-l1" in args.methods:
                aligned = launch(Path(tmp) / f"aligned-{seed}", *common)  # from the base, in parallel with SFT
                if "paft" in args.methods:
                    results.append(paft_row(Path(tmp), "paft", seed, aligned, 0.0, args.density))
                if "paft-l1" in args.methods:
                    results.append(paft_row(Path(tmp), "paft-l1", seed, aligned, args.sft_l1, args.density))
            for r in results[done:]:
                print(f"{r['method']} seed {seed}: reward {r['reward']:.3f}, guard {r['guard']:.3f}", file=sys.stderr)
    print(f"\nToy task, {args.iterations} x {args.steps} UNA steps; merging p={args.reserve}, alpha={args.alpha}; "
          f"PAFT density {args.density}, PAFT-L1 sft_l1 {args.sft_l1}\n")
    print("| method | seed | held-out reward | guard (start -> end) | KL to initial |")
    print("|---|---|---|---|---|")
    for r in results:
        kl = "-" if r["kl"] is None else f"{r['kl']:.1f}"
        print(f"| {r['method']} | {r['seed']} | {r['reward']:.3f} | {r['guard_start']:.3f} -> {r['guard']:.3f} | {kl} |")


if __name__ == "__main__":
    main()
