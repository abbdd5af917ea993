"""curves.png: the curves people watch, from a run's metrics.jsonl, marking where a stopping check fired."""

from __future__ import annotations

import json
from pathlib import Path


def plot_curves(metrics_path: Path, out_path: Path, stop_reason: str = "iteration_limit") -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    train = [r for r in rows if "train/reward_mean" in r]
    evals = [r for r in rows if "eval/reward_mean" in r]
    wins = [r for r in rows if "eval/win_rate_vs_previous" in r]
    panels = [
        (train, "train/reward_mean", "training reward (mean per step)", "step"),
        (train, "train/loss", "loss", "step"),
        (evals, "eval/reward_mean", "held-out reward", "iteration"),
        (evals, "eval/kl_to_initial", "KL to the initial policy", "iteration"),
        (wins, "eval/win_rate_vs_previous", "win rate against the previous iteration", "iteration"),
        (evals, "eval/guard", "guard metric (skill kept)", "iteration"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, (series, key, title, x_key) in zip(axes.flat, panels):
        points = [(r[x_key], r[key]) for r in series if key in r]
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o" if x_key == "iteration" else None)
        if x_key == "iteration" and stop_reason != "iteration_limit" and evals:
            ax.axvline(evals[-1]["iteration"], color="red", linestyle="--", label=f"stopped: {stop_reason}")
            ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_xlabel(x_key)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path, dpi=80)
    plt.close(fig)
    return out_path
