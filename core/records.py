"""Typed records shared by every part: prompts, samples, feedback."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class Prompt:
    prompt_id: str
    text: str  # what the policy sees, chat template already applied
    token_ids: list[int]
    messages: list[dict[str, str]] = field(default_factory=list)  # the conversation before templating
    answer: str = ""  # the reference answer (data.answer_field), for exact-match rewards


@dataclass
class Sample:
    """One generated response and where it came from."""

    sample_id: str
    prompt_id: str
    prompt_text: str
    prompt_token_ids: list[int]
    response_token_ids: list[int]
    response_text: str
    behaviour_logprobs: list[float]  # log-probs of the sampled tokens under the generating policy
    finish_reason: str  # "stop" (end of sequence) or "length"
    policy_version: int  # number of weight pushes the generator had received
    iteration: int
    step: int
    prompt_messages: list[dict[str, str]] = field(default_factory=list)  # for judges with their own chat template
    answer: str = ""  # the prompt's reference answer, if the data has one

    @classmethod
    def from_record(cls, row: dict) -> Sample:
        """The sample a row of the run's records holds (the records add reward, feedback and more columns)."""
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row})


@dataclass
class Feedback:
    """A feedback source's answer for one sample. value None means it abstained (never a silent zero)."""

    sample_id: str
    kind: Literal["score", "binary", "pair"]
    value: float | None
    source: str
    raw: str = ""  # the judge's raw reply, or a note on why it abstained


@dataclass
class LabelledPair:
    """Two responses to one prompt whose better one is known (TRL's preference format): what a judge or reward
    model is measured on. tie: the two are equally good (they measure length preference, not agreement)."""

    prompt: str
    chosen: str
    rejected: str
    tie: bool = False


@dataclass
class Signal:
    """What an algorithm learns from in one step, by name (rewards/signals.py makes it; the algorithm's
    registry entry says which function). Per-sample lists are in the step's sample order, or empty when unused."""

    learns_from: Literal["scores", "labels", "advantages", "pairs"]  # the field the algorithm's objective reads
    scores: list[float] = field(default_factory=list)  # score targets in [0, 1] (UNA score, PPO's reward)
    labels: list[float] = field(default_factory=list)  # 1.0 desirable, 0.0 undesirable (UNA binary, KTO)
    advantages: list[float] = field(default_factory=list)  # group-relative advantages (GRPO, RLOO)
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (chosen, rejected) sample indices (DPO family)
    ties_dropped: int = 0  # prompts whose samples all tied: no pair

    @property
    def empty(self) -> bool:
        """Nothing to learn from (every prompt's samples tied, for pairs)."""
        return not getattr(self, self.learns_from)

    def per_sample(self) -> list[float]:
        """The records' target column: the per-sample values learned from (for pairs, the score targets)."""
        return self.scores if self.learns_from == "pairs" else getattr(self, self.learns_from)


@dataclass
class UpdateStats:
    """What the learner reports for one batch's updates (learner/one_update.py, PPO's plan)."""

    loss: float
    grad_norm: float
    nonfinite_microbatches: int  # micro-batches whose loss was not finite: their gradients were zeroed
    details: dict[str, float] = field(default_factory=dict)  # the objective's own statistics (a mean per rank)
    shares: dict[str, float] = field(default_factory=dict)  # statistics each rank holds a share of (summed)

    def metrics(self) -> dict[str, float]:
        return {"loss": self.loss, "grad_norm": self.grad_norm,
                "nonfinite_microbatches": float(self.nonfinite_microbatches), **self.details, **self.shares}

    @staticmethod
    def over_ranks(per_rank: list[UpdateStats]) -> UpdateStats:
        """The learner group's statistics: losses and shares summed over ranks (each rank's is divided by the
        whole step's count), details averaged over the ranks that had samples to report them (a rank can get none:
        fewer units than ranks), and the global gradient norm (the same on every rank)."""
        first = per_rank[0]
        reporting = [s.details for s in per_rank if s.details]
        return UpdateStats(
            loss=sum(s.loss for s in per_rank),
            grad_norm=first.grad_norm,
            nonfinite_microbatches=sum(s.nonfinite_microbatches for s in per_rank),
            details={k: sum(d[k] for d in reporting) / len(reporting) for k in (reporting[0] if reporting else {})},
            shares={k: sum(s.shares.get(k, 0.0) for s in per_rank) for k in {k for s in per_rank for k in s.shares}},
        )
