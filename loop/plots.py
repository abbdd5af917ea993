"""curves.png: the curves people watch, drawn at the end of a run from metrics.jsonl."""

from __future__ import annotations

import json
from pathlib import Path


def plot_curves(metrics_path: Path, out_path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster node
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    train = [r for r in rows if "train/reward_mean" in r]
    evals = [r for r in rows if "eval/reward_mean" in r]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    panels = [
        (axes[0], train, "train/reward_mean", "training reward (mean per step)", "step"),
        (axes[1], evals, "eval/reward_mean", "held-out reward", "iteration"),
        (axes[2], evals, "eval/kl_to_initial", "KL to the initial policy", "iteration"),
    ]
    for ax, series, key, title, x_key in panels:
        ax.plot([r[x_key] for r in series], [r[key] for r in series], marker="o" if x_key == "iteration" else None)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_xlabel(x_key)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path, dpi=80)
    plt.close(fig)
    return out_path
