"""A run's report: curves.png and report.md beside summary.json. Written at the end of every run.

    python -m loop.report RUN_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from loop.plots import plot_curves


def write_report(run_dir: Path) -> Path:
    summary = json.loads((run_dir / "summary.json").read_text())
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
        "| iteration | held-out reward | KL to initial | win rate vs previous | guard | samples | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in summary["iterations"]:
        rate = "" if row.get("win_rate_vs_previous") is None else f"{row['win_rate_vs_previous']:.3f}"
        guard = "" if row.get("guard") is None else f"{row['guard']:.3f}"
        lines.append(f"| {row['iteration']} | {row['eval_reward']:.4f} | {row['kl_to_initial']:.3f} | {rate} | "
                     f"{guard} | {row['train_samples']} | {row['seconds']} |")
    phases = summary["phase_seconds"]
    lines += ["", "Seconds per phase: " + ", ".join(f"{k} {v}" for k, v in phases.items()), "",
              f"Abstentions: {summary['abstentions']}; prompts dropped for ties: {summary.get('prompts_dropped_for_ties', 0)}; "
              f"skipped prompt rows: {summary['skipped_prompts'] or 'none'}.", "", "![curves](curves.png)", ""]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    print(f"wrote {write_report(parser.parse_args(argv).run_dir)}")


if __name__ == "__main__":
    main()
