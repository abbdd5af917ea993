"""The lab's distilled RLAIF and its RLHF control (bench/lab.py's rlaif table), as a user runs them, with the public
commands: sample the policy and let the judge score the samples (a launch.py run on the rlaif preset, one iterative
iteration: every sample comes from the initial policy), `una-align export` its best-against-worst pairs,
`una-align train-rm` a reward model on them, then online UNA on that reward model (launch.py, reward.kind
reward_model). The RLHF row trains the same reward model on the same pairs ordered by Task B's gold reward instead
of the judge (gold ties dropped), so the two rows differ only in who labelled the pairs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

LABEL_STEPS = 64  # x 16 prompts: about 1000 pairs, as many as the proxy's 1024 gold labels
TRAIN_RM = ["--epochs", "4", "--lr", "1e-3", "--batch-size", "16"]  # the proxy's budget: ~4.7 passes over its pairs


def distilled_run(launch: Callable[[str, Path, list[str]], dict], preset: str, row: str, seed: int, out: Path,
                  common: list[str], extra: list[str]) -> dict:
    """row "distilled" (the judge's labels) or "rlhf" (gold labels on the same pairs); launch: bench/lab.launch."""
    labels = launch(preset, out / f"labels-s{seed}", [*common, "train.mode=iterative", "train.iterations=1",
                                                      f"train.steps_per_iteration={LABEL_STEPS}", f"train.seed={seed}"])
    run_dir = Path(labels["paths"]["records"]).parent
    pairs = run_dir / "preferences-pairs.parquet"
    if not pairs.is_file():
        _command(["export", str(run_dir), "--kind", "pairs", "--out", str(pairs)])
    data = pairs if row == "distilled" else _gold_ordered(pairs, out / f"gold-pairs-s{seed}.jsonl")
    reward_model = out / f"{row}-rm-s{seed}"
    if not (reward_model / "train_rm.json").is_file():
        _command(["train-rm", str(data), "--base", labels["model_path"], "--out", str(reward_model), "--seed", str(seed),
                  *TRAIN_RM])
    return launch(preset, out / f"{row}-s{seed}", [*common, "reward.kind=reward_model",
                                                   f"reward.model_path={reward_model}", *extra, f"train.seed={seed}"])


def _gold_ordered(pairs: Path, out: Path) -> Path:
    """The exported pairs, each ordered by the gold reward; pairs gold cannot tell apart are dropped."""
    import datasets

    from tasks.writing import writing_gold

    rows = []
    for row in datasets.load_dataset("parquet", data_files=str(pairs), split="train"):
        prompt = row["prompt"][-1]["content"]
        chosen, rejected = row["chosen"][-1]["content"], row["rejected"][-1]["content"]
        gold_chosen, gold_rejected = writing_gold(prompt, chosen), writing_gold(prompt, rejected)
        if gold_chosen != gold_rejected:
            better, worse = (chosen, rejected) if gold_chosen > gold_rejected else (rejected, chosen)
            rows.append({"prompt": prompt, "chosen": better, "rejected": worse})
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def _command(args: list[str]) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", "import sys, launch; sys.exit(launch.cli(sys.argv[1:]))", *args],
                          cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"una-align {' '.join(args)} failed:\n{done.stderr[-3000:]}")
