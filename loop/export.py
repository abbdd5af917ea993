"""Turn a run's records into a preference data set for offline DPO, KTO or UNA.

    python -m loop.export RUN_DIR --kind pairs  [--out DIR]                 prompt, chosen, rejected
    python -m loop.export RUN_DIR --kind binary [--out DIR] [--threshold X] prompt, completion, label

Training records only (held-out samples stay held out). Pairs: per prompt and step, the best sample
against the worst, ties dropped. Binary: label True when the reward is at least --threshold, or, without
one, at least the mean reward of the same prompt's samples at that step. Abstained samples are left out.
The result is a `datasets` folder (datasets.load_from_disk, or data.source in a config).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rewards.normalize import group_indices
from rewards.signals import best_vs_worst_pairs


def load_train_records(run_dir: Path) -> list[dict]:
    import datasets

    files = sorted(str(p) for p in (run_dir / "records").glob("train-*.parquet"))
    if not files:
        raise FileNotFoundError(f"{run_dir}/records has no train-*.parquet files: is this a run folder?")
    rows = datasets.load_dataset("parquet", data_files=files, split="train").to_list()
    return [r for r in rows if r["reward"] is not None]


def preference_pairs(rows: list[dict]) -> list[dict]:
    pairs, _ = best_vs_worst_pairs(_group_keys(rows), [r["reward"] for r in rows])
    return [{"prompt": rows[c]["prompt_text"], "chosen": rows[c]["response_text"], "rejected": rows[r]["response_text"],
             "score_chosen": rows[c]["reward"], "score_rejected": rows[r]["reward"], "iteration": rows[c]["iteration"]}
            for c, r in pairs]


def _group_keys(rows: list[dict]) -> list[str]:
    return [f"{r['iteration']}/{r['step']}/{r['prompt_id']}" for r in rows]


def binary_examples(rows: list[dict], threshold: float | None) -> list[dict]:
    keys = _group_keys(rows)
    groups = group_indices(keys)
    out = []
    for r, key in zip(rows, keys):
        rewards = [rows[i]["reward"] for i in groups[key]]
        cut = threshold if threshold is not None else sum(rewards) / len(rewards)
        out.append({"prompt": r["prompt_text"], "completion": r["response_text"], "label": r["reward"] >= cut,
                    "score": r["reward"], "iteration": r["iteration"]})
    return out


def export(run_dir: Path, kind: str, out: Path, threshold: float | None = None) -> int:
    import datasets

    rows = load_train_records(run_dir)
    examples = preference_pairs(rows) if kind == "pairs" else binary_examples(rows, threshold)
    if not examples:
        raise ValueError(f"{run_dir}: no {kind} could be built (every prompt's samples tied?)")
    datasets.Dataset.from_list(examples).save_to_disk(str(out))
    return len(examples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--kind", choices=["pairs", "binary"], default="pairs")
    parser.add_argument("--out", type=Path, help="default: RUN_DIR/preferences-KIND")
    parser.add_argument("--threshold", type=float)
    args = parser.parse_args(argv)
    out = args.out or args.run_dir / f"preferences-{args.kind}"
    count = export(args.run_dir, args.kind, out, args.threshold)
    print(f"wrote {count} {args.kind} examples to {out}")


if __name__ == "__main__":
    main()
