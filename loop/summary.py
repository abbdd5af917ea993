"""summary.json for a finished run, and the table launch.py prints."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.files import write_text_atomic
from core.precision import Precision
from loop.training import LoopResult


def write_summary(out_dir: Path, cfg: RunConfig, precision: Precision, result: LoopResult, peak_memory_mb: dict[str, float],
                  skipped_prompts: dict[str, int], model_path: str, ray_info: dict[str, Any]) -> Path:
    summary = {
        "config": cfg.to_dict(),
        "model_path": model_path,
        "precision": precision.to_dict(),
        "iterations": [asdict(row) for row in result.iterations],
        "stop_reason": result.stop_reason,
        "stop_detail": result.stop_detail,
        "phase_seconds": result.phase_seconds,
        "peak_memory_mb": peak_memory_mb,
        "abstentions": result.abstentions,
        "actor_restarts": result.actor_restarts,
        "prompts_dropped_for_ties": result.ties_dropped,
        "skipped_prompts": skipped_prompts,
        "ray": ray_info,
        "paths": {
            "records": str(out_dir / "records"),
            "metrics": str(out_dir / "metrics.jsonl"),
            "tensorboard": str(out_dir / "tensorboard"),
            "checkpoints": result.checkpoints,
        },
    }
    return write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2))


def format_table(result: LoopResult) -> str:
    with_gold = any(row.gold is not None for row in result.iterations)
    with_judge = any(row.judge_agreement is not None for row in result.iterations)
    lines = [f"{'iteration':>9} {'held-out reward':>16} {'KL to initial':>14} {'win rate':>9} {'guard':>6} "
             + (f"{'gold':>6} {'gold greedy':>11} " if with_gold else "")
             + (f"{'judge agrees':>12} " if with_judge else "") + f"{'samples':>8} {'seconds':>8}"]
    for row in result.iterations:
        rate, guard, gold, greedy, judge = (_cell(v) for v in (row.win_rate_vs_previous, row.guard, row.gold,
                                                                row.gold_greedy, row.judge_agreement))
        lines.append(f"{row.iteration:>9} {row.eval_reward:>16.4f} {row.kl_to_initial:>14.3f} {rate:>9} {guard:>6} "
                     + (f"{gold:>6} {greedy:>11} " if with_gold else "") + (f"{judge:>12} " if with_judge else "")
                     + f"{row.train_samples:>8} {row.seconds:>8.1f}")
    lines.append(f"stopped: {result.stop_reason} ({result.stop_detail})")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
