"""How well a judge or reward model judges: measured on labelled pairs whose better response is known (the survey's
"AI-annotator alignment"; the RLAIF papers' agreement, position consistency and length preference).

  agreement             share of the pairs ordered as the known order (a tied verdict counts half)
  position consistency  share of the pairs (ties too) whose winner stays the same with the two responses swapped (a judge
                        comparing two responses in one prompt; None for one that scores each response alone)
  length preference     over pairs of equally good responses of different lengths: how often the longer wins
                        (0.5: no preference)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.records import LabelledPair, Sample


@dataclass
class PairVerdict:
    """P(the pair's first response, `chosen`, is the better) as the judge said it."""

    as_first: float | None  # with `chosen` shown first (or the verdict of scores); None: it abstained
    as_second: float | None = None  # with `chosen` shown second; None: no second asking (a scoring judge)
    # which the judge's verdict is: both orders averaged (reward.judge.swap_positions), or one of them alone
    used: Literal["both", "first", "second"] = "both"

    @property
    def preference(self) -> float | None:
        if self.as_first is None:
            return None
        if self.as_second is None or self.used == "first":
            return self.as_first
        return self.as_second if self.used == "second" else (self.as_first + self.as_second) / 2


@dataclass
class JudgeAgreement:
    agreement: float | None
    position_consistency: float | None
    length_preference: float | None
    pairs: int  # labelled pairs judged (ties excluded)
    abstained: int  # pairs (ties included) the judge gave no verdict on

    def metrics(self) -> dict[str, float]:
        values = {"judge_agreement": self.agreement, "judge_position_consistency": self.position_consistency,
                  "judge_length_preference": self.length_preference}
        return {k: v for k, v in values.items() if v is not None}


def verdict_of_scores(chosen: float | None, rejected: float | None) -> PairVerdict:
    """A scoring judge's (or reward model's) verdict: 1 when chosen scores higher, 0.5 on a tie."""
    if chosen is None or rejected is None:
        return PairVerdict(None)
    return PairVerdict(1.0 if chosen > rejected else 0.5 if chosen == rejected else 0.0)


def measure(pairs: list[LabelledPair], verdicts: list[PairVerdict]) -> JudgeAgreement:
    ordered = [(p, v) for p, v in zip(pairs, verdicts, strict=True) if not p.tie and v.preference is not None]
    swapped = [v for v in verdicts if v.as_first is not None and v.as_second is not None]
    ties = [(p, v) for p, v in zip(pairs, verdicts) if p.tie and v.preference is not None]
    return JudgeAgreement(
        agreement=_mean([_won(v.preference) for _, v in ordered]),
        position_consistency=_mean([float((v.as_first > 0.5) == (v.as_second > 0.5)) for v in swapped]) if swapped else None,
        length_preference=_mean([_won(v.preference if _words(p.chosen) > _words(p.rejected) else 1 - v.preference)
                                 for p, v in ties]),
        pairs=sum(not p.tie for p in pairs),
        abstained=sum(v.preference is None for v in verdicts),
    )


def pair_samples(pairs: list[LabelledPair]) -> list[Sample]:
    """Each pair as two samples (chosen, then rejected) of one prompt, for a source that scores samples."""
    samples = []
    for index, pair in enumerate(pairs):
        messages = [{"role": "user", "content": pair.prompt}]
        for side, response in (("chosen", pair.chosen), ("rejected", pair.rejected)):
            samples.append(Sample(f"judge-pair-{index}-{side}", f"judge-pair-{index}", pair.prompt, [], [], response,
                                  [], "stop", 0, 0, 0, prompt_messages=messages))
    return samples


def score_verdicts(source, pairs: list[LabelledPair]) -> list[PairVerdict]:
    """The verdicts of a source that scores each response alone (a reward model, a function, a scoring judge)."""
    values = [fb.value for fb in source.score(pair_samples(pairs))]
    return [verdict_of_scores(values[2 * i], values[2 * i + 1]) for i in range(len(pairs))]


def _won(preference: float) -> float:
    return 1.0 if preference > 0.5 else 0.5 if preference == 0.5 else 0.0


def _words(text: str) -> int:
    return len(text.split())


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
