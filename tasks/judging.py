"""The lab's judging skill and its labelled pairs, both from Task B's gold reward (tasks/writing.py).

Self-Rewarding LMs (Yuan et al. 2024) give the model its judging skill with "EFT" data: judging prompts whose
answers agree with a trusted evaluation. Here the trusted evaluation is the gold reward, and the prompts are the
judge's own templates (configs/judge_templates.yaml), so the skill is asked for exactly as the judge asks:
  direct, pointwise   the template with one response   ->  "Score: N"      N = the gold reward's 0-5 bucket
  pairwise            the template with two responses  ->  "Preferred: 1"  (or 2: the gold-preferred one; both
                                                                            orders are drawn alike)
The responses are warm-start-like sentences (writing.sample_response), so the judge learns to judge what the
policy writes at first, and can be fooled by what it learns to write later.

labelled_pairs() draws the pairs a judge is measured on (evaluation.judge_pairs: writing_gold): the gold reward's
order is the known order, and pairs of equally good responses of different lengths measure length preference.
"""

from __future__ import annotations

import random

from core.records import LabelledPair
from tasks import toy, writing

SCORE_ANSWER = "Score: {score}"
PAIRWISE_ANSWER = "Preferred: {choice}"
MODES = ("direct", "pointwise", "pairwise")
PAIRS_SEED = 20240101  # the measured pairs: fixed, and unlike any seed the warm start's examples are drawn with


def score_bucket(gold: float) -> int:
    """The gold reward in [0, 1] as the judge's 0-5 score."""
    return round(gold * 5)


def judging_example(rng: random.Random, templates: dict[str, str]) -> tuple[str, str]:
    """One (judging prompt, answer) in one of the judge's modes, drawn alike."""
    mode = rng.choice(MODES)
    first, second = writing.topic_pair(rng)
    question = toy.prompt(first, second)
    response = writing.sample_response(rng, first, second)
    if mode != "pairwise":
        gold = writing.writing_gold(question, response)
        return templates[mode].format(question=question, response=response), SCORE_ANSWER.format(score=score_bucket(gold))
    other = _differently_good(rng, question, first, second, writing.writing_gold(question, response))
    better = 1 if writing.writing_gold(question, response) > writing.writing_gold(question, other) else 2
    text = templates["pairwise"].format(question=question, response_1=response, response_2=other)
    return text, PAIRWISE_ANSWER.format(choice=better)


def _differently_good(rng: random.Random, question: str, first: str, second: str, gold: float) -> str:
    while True:
        other = writing.sample_response(rng, first, second)
        if writing.writing_gold(question, other) != gold:
            return other


def labelled_pairs(count: int, ties: int, seed: int = PAIRS_SEED) -> list[LabelledPair]:
    """count pairs whose gold rewards differ (chosen: the higher), then `ties` pairs of equal gold and different
    word counts (equally good: for length preference), each on a fresh writing prompt."""
    rng = random.Random(seed)
    pairs: list[LabelledPair] = []
    while len(pairs) < count + ties:
        first, second = writing.topic_pair(rng)
        question = toy.prompt(first, second)
        a, b = (writing.sample_response(rng, first, second) for _ in range(2))
        gold_a, gold_b = writing.writing_gold(question, a), writing.writing_gold(question, b)
        if len(pairs) < count and gold_a != gold_b:
            chosen, rejected = (a, b) if gold_a > gold_b else (b, a)
            pairs.append(LabelledPair(question, chosen, rejected))
        elif len(pairs) >= count and abs(gold_a - gold_b) < 1e-9 and len(a.split()) != len(b.split()):
            pairs.append(LabelledPair(question, a, b, tie=True))
    return pairs
