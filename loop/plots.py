"""curves.png: the curves people watch, from a run's metrics.jsonl, marking where a stopping check fired; with a
gold metric (evaluation.gold) also the gold metric per iteration and gold and proxy reward against the KL to the
initial policy (the over-optimisation curve of Gao et al. 2022)."""

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
    golds = [r for r in evals if "eval/gold" in r]
    if golds:
        panels.append((golds, "eval/gold", "gold metric (hidden from training)", "iteration"))
    judged = [r for r in evals if "eval/judge_agreement" in r]
    if judged:
        panels.append((judged, "eval/judge_agreement", "the oracle on labelled pairs", "iteration"))
    columns = 3 + bool(golds) + bool(judged)
    fig, axes = plt.subplots(2, columns, figsize=(5 * columns, 8))
    if golds:
        _gold_against_kl(axes.flat[-1], golds)
    for ax, (series, key, title, x_key) in zip(axes.flat, panels):
        points = [(r[x_key], r[key]) for r in series if key in r]
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o" if x_key == "iteration" else None)
        if key == "eval/judge_agreement":
            _judge_lines(ax, series)
        if key == "eval/gold" and any("eval/gold_greedy" in r for r in series):
            ax.plot([r[x_key] for r in series], [r.get("eval/gold_greedy") for r in series], marker="s", label="greedy")
            ax.legend()
        if x_key == "iteration" and stop_reason != "iteration_limit" and evals:
            ax.axvline(evals[-1]["iteration"], color="red", linestyle="--", label=f"stopped: {stop_reason}")
            ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_xlabel(x_key)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels): axes.size - bool(golds)]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out_path, dpi=80)
    plt.close(fig)
    return out_path


def _judge_lines(ax, evals: list[dict]) -> None:
    """Beside agreement: position consistency and length preference, where measured."""
    for key, label in (("eval/judge_position_consistency", "position consistency"),
                       ("eval/judge_length_preference", "length preference")):
        points = [(r["iteration"], r[key]) for r in evals if key in r]
        if points:
            ax.plot([x for x, _ in points], [y for _, y in points], marker="s", label=label)
    ax.lines[0].set_label("agreement")
    ax.legend()


def _gold_against_kl(ax, evals: list[dict]) -> None:
    """Gold and the proxy (the trained-on reward) against the KL to the initial policy."""
    kl = [r["eval/kl_to_initial"] for r in evals]
    ax.plot(kl, [r["eval/gold"] for r in evals], marker="o", color="tab:green", label="gold")
    ax.set_xlabel("KL to the initial policy")
    ax.set_ylabel("gold", color="tab:green")
    proxy = ax.twinx()
    proxy.plot(kl, [r["eval/reward_mean"] for r in evals], marker="^", color="tab:blue", label="proxy reward")
    proxy.set_ylabel("proxy reward (trained on)", color="tab:blue")
    ax.set_title("gold and proxy against KL")
    ax.grid(alpha=0.3)
