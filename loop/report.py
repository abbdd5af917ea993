"""A run's report: curves.png and report.md beside summary.json. Written at the end of every run.

    python -m loop.report RUN_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.files import write_text_atomic
from loop.plots import plot_curves


class ReportError(ValueError):
    """The run folder has no readable summary.json."""


def write_report(run_dir: Path) -> Path:
    summary = read_summary(run_dir)
    plot_curves(run_dir / "metrics.jsonl", run_dir / "curves.png", summary["stop_reason"])
    cfg = summary["config"]
    lines = [
        f"# Run {run_dir.name}",
        "",
        f"Algorithm **{cfg['algorithm']['name']}** (feedback {cfg['algorithm']['feedback']}), "
        f"reward {cfg['reward']['kind']}, {cfg['train']['iterations']} iterations x "
        f"{cfg['train']['steps_per_iteration']} steps, seed {cfg['train']['seed']}.",
        "",
        f"Stopped: **{summary['stop_reason']}**: {summary['stop_detail']}",
        "",
        "| iteration | held-out reward | KL to initial | win rate vs previous | guard | gold | gold greedy | samples "
        "| seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary["iterations"]:
        rate, guard, gold, greedy = (_cell(row.get(k)) for k in ("win_rate_vs_previous", "guard", "gold", "gold_greedy"))
        lines.append(f"| {row['iteration']} | {row['eval_reward']:.4f} | {row['kl_to_initial']:.3f} | {rate} | "
                     f"{guard} | {gold} | {greedy} | {row['train_samples']} | {row['seconds']} |")
    lines += _judge_table(summary)
    phases = summary["phase_seconds"]
    lines += ["", "Seconds per phase: " + ", ".join(f"{k} {v}" for k, v in phases.items()), "",
              f"Abstentions: {summary['abstentions']}; prompts dropped for ties: {summary.get('prompts_dropped_for_ties', 0)}; "
              f"skipped prompt rows: {summary['skipped_prompts'] or 'none'}; "
              f"actors restarted after their process died: {summary.get('actor_restarts', 0)}.", "",
              "![curves](curves.png)", ""]
    return write_text_atomic(run_dir / "report.md", "\n".join(lines))


def _judge_table(summary: dict) -> list[str]:
    """The oracle judging evaluation.judge_pairs at each evaluation, when the run measured it."""
    rows = [row for row in summary["iterations"] if row.get("judge_agreement") is not None]
    if not rows:
        return []
    lines = ["", f"The oracle ({summary['config']['reward']['kind']}) on the labelled pairs of evaluation.judge_pairs "
             f"({summary['config']['evaluation']['judge_pairs']}): agreement with the known order, the same verdict with "
             "the two responses swapped, and how often the longer of two equally good responses wins.", "",
             "| iteration | agreement | position consistency | length preference |", "|---|---|---|---|"]
    for row in rows:
        cells = (_cell(row.get(k)) for k in ("judge_agreement", "judge_position_consistency", "judge_length_preference"))
        lines.append(f"| {row['iteration']} | " + " | ".join(cells) + " |")
    return lines


def read_summary(run_dir: Path) -> dict:
    path = run_dir / "summary.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"{path} does not exist: is {run_dir} a run folder (launch.py --output-dir)?") from None
    except json.JSONDecodeError as err:
        raise ReportError(f"{path} is not valid JSON ({err}); the run may have been stopped while writing it") from None


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    try:
        print(f"wrote {write_report(parser.parse_args(argv).run_dir)}")
    except ReportError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
