"""What the loop has done so far: the counters and history a resumed run continues from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple

StopReason = Literal[
    "not_started", "error", "interrupted",  # unfinished: the same command resumes the run
    "non_finite_loss", "no_learning_signal",  # failed: the run cannot go on as configured
    "iteration_limit", "time_budget",  # done: the configured length
    "guard_regressed", "kl_budget", "low_win_rate", "plateau",  # done: a stopping check fired (loop/stopping.py)
]
UNFINISHED: tuple[StopReason, ...] = ("not_started", "error", "interrupted")
FAILED: tuple[StopReason, ...] = ("error", "interrupted", "non_finite_loss", "no_learning_signal")  # exit code 1


class Stop(NamedTuple):
    """Why the loop stopped, and the detail a user reads (summary.json, report.md, the final table)."""

    reason: StopReason
    detail: str


@dataclass
class IterationRow:
    iteration: int
    eval_reward: float
    kl_to_initial: float
    train_samples: int
    seconds: float
    win_rate_vs_previous: float | None = None  # by the oracle, on the held-out prompts
    guard: float | None = None  # the guard metric on the held-out samples (rewards/guard.py)
    gold: float | None = None  # the hidden gold metric on the held-out samples (evaluation.gold)
    reward_greedy: float | None = None  # the oracle's reward of greedy answers (evaluation.greedy)
    gold_greedy: float | None = None
    # the oracle judging evaluation.judge_pairs (rewards/judge_agreement.py)
    judge_agreement: float | None = None
    judge_position_consistency: float | None = None
    judge_length_preference: float | None = None


@dataclass
class LoopState:
    iteration: int = 0  # the last iteration completed (evaluated and checkpointed)
    step: int = 0  # the last step taken (steps are numbered across iterations)
    updates: int = 0  # optimizer steps
    policy_version: int = 0  # weight pushes to the generator
    batches_drawn: int = 0  # the data cursor: prompt batches taken from the seeded stream
    abstentions: int = 0
    ties_dropped: int = 0
    nonfinite_updates: int = 0  # in a row
    actor_restarts: int = 0  # rollout engines or the oracle restarted after their process died
    rows: list[IterationRow] = field(default_factory=list)
    previous_rewards: dict[str, list[float]] = field(default_factory=dict)  # held-out rewards per prompt, last eval
    checkpoints: list[str] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopState:
        return cls(**{**data, "rows": [IterationRow(**row) for row in data["rows"]]})
