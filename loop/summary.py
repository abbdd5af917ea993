"""summary.json for a finished run, and the table launch.py prints."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.config import RunConfig
from loop.training import LoopResult


def write_summary(out_dir: Path, cfg: RunConfig, result: LoopResult, peak_memory_mb: dict[str, float],
                  skipped_prompts: dict[str, int], model_path: str, ray_info: dict[str, Any]) -> Path:
    summary = {
        "config": cfg.to_dict(),
        "model_path": model_path,
        "iterations": [asdict(row) for row in result.iterations],
        "stop_reason": result.stop_reason,
        "stop_detail": result.stop_detail,
        "phase_seconds": result.phase_seconds,
        "peak_memory_mb": peak_memory_mb,
        "abstentions": result.abstentions,
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
    path = out_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2))
    return path


def format_table(result: LoopResult) -> str:
    lines = [f"{'iteration':>9} {'held-out reward':>16} {'KL to initial':>14} {'win rate':>9} {'guard':>6} "
             f"{'samples':>8} {'seconds':>8}"]
    for row in result.iterations:
        rate = "" if row.win_rate_vs_previous is None else f"{row.win_rate_vs_previous:.3f}"
        guard = "" if row.guard is None else f"{row.guard:.3f}"
        lines.append(f"{row.iteration:>9} {row.eval_reward:>16.4f} {row.kl_to_initial:>14.3f} {rate:>9} {guard:>6} "
                     f"{row.train_samples:>8} {row.seconds:>8.1f}")
    lines.append(f"stopped: {result.stop_reason} ({result.stop_detail})")
    return "\n".join(lines)
