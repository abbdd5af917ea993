"""Turn a run's records into a preference data set for offline DPO, KTO or UNA, or a reward model (train-rm).

    una-align export RUN_DIR --kind pairs  [--out FILE]                 prompt, chosen, rejected
    una-align export RUN_DIR --kind binary [--out FILE] [--threshold X] prompt, completion, label

Training records only (held-out samples stay held out). Pairs: per prompt and step, the best sample
against the worst, ties dropped. Binary: label True when the reward is at least --threshold, or, without
one, at least the mean reward of the same prompt's samples at that step. Abstained samples are left out.
In TRL's conversational format (the prompt as its messages, each response as an assistant turn) with the
scores beside them, written as Parquet (or JSON lines for a FILE ending in .jsonl): what
datasets.load_dataset, TRL's trainers, data.source and `una-align train-rm` read. Default FILE:
RUN_DIR/preferences-KIND.parquet.
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
    return [{"prompt": _prompt(rows[c]), "chosen": _response(rows[c]), "rejected": _response(rows[r]),
             "score_chosen": rows[c]["reward"], "score_rejected": rows[r]["reward"], "iteration": rows[c]["iteration"]}
            for c, r in pairs]


def _prompt(row: dict) -> list[dict[str, str]]:
    """The prompt's conversation (records of old runs without one: the rendered prompt as one user turn)."""
    return row.get("prompt_messages") or [{"role": "user", "content": row["prompt_text"]}]


def _response(row: dict) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": row["response_text"]}]


def _group_keys(rows: list[dict]) -> list[str]:
    return [f"{r['iteration']}/{r['step']}/{r['prompt_id']}" for r in rows]


def binary_examples(rows: list[dict], threshold: float | None) -> list[dict]:
    keys = _group_keys(rows)
    groups = group_indices(keys)
    out = []
    for r, key in zip(rows, keys):
        rewards = [rows[i]["reward"] for i in groups[key]]
        cut = threshold if threshold is not None else sum(rewards) / len(rewards)
        out.append({"prompt": _prompt(r), "completion": _response(r), "label": r["reward"] >= cut,
                    "score": r["reward"], "iteration": r["iteration"]})
    return out


def export(run_dir: Path, kind: str, out: Path, threshold: float | None = None) -> int:
    import datasets

    rows = load_train_records(run_dir)
    examples = preference_pairs(rows) if kind == "pairs" else binary_examples(rows, threshold)
    if not examples:
        raise ValueError(f"{run_dir}: no {kind} could be built (every prompt's samples tied?)")
    table = datasets.Dataset.from_list(examples)
    if out.suffix == ".jsonl":
        table.to_json(str(out), lines=True)
    else:
        table.to_parquet(str(out))
    return len(examples)


def unfinished_note(run_dir: Path) -> str:
    """"" for a finished run; else what the export holds (a running or stopped run's records so far)."""
    from loop.report import ReportError, read_summary
    from loop.state import UNFINISHED

    try:
        reason = read_summary(run_dir)["stop_reason"]
    except ReportError:
        return " (the run has no summary.json: it is running or was killed; these are its records so far)"
    return f" (the run ended {reason}: these are its records up to then)" if reason in UNFINISHED else ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--kind", choices=["pairs", "binary"], default="pairs")
    parser.add_argument("--out", type=Path, help="a .parquet or .jsonl file; default: RUN_DIR/preferences-KIND.parquet")
    parser.add_argument("--threshold", type=float)
    args = parser.parse_args(argv)
    out = args.out or args.run_dir / f"preferences-{args.kind}.parquet"
    count = export(args.run_dir, args.kind, out, args.threshold)
    print(f"wrote {count} {args.kind} examples to {out}{unfinished_note(args.run_dir)}")


if __name__ == "__main__":
    main()
