"""When to stop iterating: checks on the per-iteration held-out numbers, each naming what made it fire.

No paper settles this (the iterative-alignment surveys leave it open); these are the reasonable checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import StoppingConfig
from loop.state import Stop


@dataclass
class Evaluated:
    """What the checks read per iteration (iteration 0 is the model before training)."""

    iteration: int
    reward: float
    kl_to_initial: float
    win_rate_vs_previous: float | None = None
    guard: float | None = None  # the skill that must not be lost (rewards/guard.py)


def plateau(history: list[Evaluated], patience: int, min_delta: float) -> str | None:
    """Fires when none of the last `patience` iterations beat the best reward before them by more than min_delta."""
    if patience <= 0 or len(history) <= patience:
        return None
    before, recent = history[:-patience], history[-patience:]
    best_before = max(h.reward for h in before)
    best_recent = max(h.reward for h in recent)
    if best_recent <= best_before + min_delta:
        return (f"held-out reward {best_recent:.4f} over the last {patience} iteration(s) did not beat the earlier "
                f"best {best_before:.4f} by more than stopping.min_delta={min_delta}")
    return None


def kl_budget(history: list[Evaluated], max_kl: float) -> str | None:
    """Fires when the KL to the initial policy exceeds the budget (0 turns the check off)."""
    if max_kl > 0 and history[-1].kl_to_initial > max_kl:
        return f"KL to the initial policy {history[-1].kl_to_initial:.3f} exceeds stopping.max_kl={max_kl}"
    return None


def low_win_rate(history: list[Evaluated], min_win_rate: float) -> str | None:
    """Fires when the new policy wins less often than min_win_rate against the previous iteration's."""
    rate = history[-1].win_rate_vs_previous
    if min_win_rate > 0 and rate is not None and rate < min_win_rate:
        return f"win rate against the previous iteration {rate:.3f} is below stopping.min_win_rate={min_win_rate}"
    return None


def guard_regressed(history: list[Evaluated], max_drop: float) -> str | None:
    """Fires when the guard metric fell more than max_drop below its value before training (iteration 0)."""
    start, now = history[0].guard, history[-1].guard
    if max_drop > 0 and start is not None and now is not None and now < start - max_drop:
        return (f"guard metric {now:.4f} fell more than stopping.max_guard_drop={max_drop} below its value "
                f"before training, {start:.4f}")
    return None


def should_stop(history: list[Evaluated], cfg: StoppingConfig) -> Stop | None:
    """The first check that fires, or None to go on."""
    for reason, detail in (("guard_regressed", guard_regressed(history, cfg.max_guard_drop)),
                           ("kl_budget", kl_budget(history, cfg.max_kl)),
                           ("low_win_rate", low_win_rate(history, cfg.min_win_rate)),
                           ("plateau", plateau(history, cfg.patience, cfg.min_delta))):
        if detail:
            return Stop(reason, detail)
    return None
