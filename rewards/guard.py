"""The guard metric: a skill the model must not lose while it is aligned (the alignment tax).

Scored on the held-out samples at every evaluation, beside the reward. For the toy task the skill is the
supervised warm start's (model.tiny.sft_steps): answering "write about X and Y." by naming X and Y; the
guard is the share of the two topic words a response names. Any other guard is a function
f(prompt, response[, answer]) -> float named as `package.module:function` or `path/to/file.py:function`.
"""

from __future__ import annotations

import re

from core.records import Feedback, Sample
from tasks import toy


def topic_recall(prompt: str, response: str) -> float | None:
    """Share of the prompt's two topics named in the response (a topic counts in singular or plural)."""
    found = toy.PROMPT_PATTERN.search(prompt)
    if not found:
        return None  # not a toy prompt: no guard value for it
    words = set(re.findall(r"\w+", response.lower()))
    return sum(_named(topic, words) for topic in found.groups()) / 2


def _named(topic: str, words: set[str]) -> bool:
    return topic in words or topic.rstrip("s") in words or f"{topic}s" in words


def build_guard(spec: str, toy_data: bool):
    """The guard as a reward source over samples, or None. spec: "auto" (topic recall on the toy task,
    none otherwise), "none", "arithmetic" (exact match on its own prompts), or a function as for
    reward.kind function."""
    if spec == "auto":
        spec = "topic_recall" if toy_data else "none"
    return build_metric("exact_match" if spec == "arithmetic" else spec)


def build_metric(spec: str):
    """A function over (prompt, response[, answer]) as a reward source, or None for "none". Built in:
    topic_recall, exact_match (against the prompt's answer), writing_gold (tasks/writing.py)."""
    from rewards.function import FunctionReward, exact_match_rule, load_function
    from tasks.writing import writing_gold

    builtin = {"topic_recall": topic_recall, "exact_match": exact_match_rule, "writing_gold": writing_gold}
    if spec == "none":
        return None
    if spec in builtin:
        return FunctionReward(builtin[spec], spec)
    return FunctionReward(load_function(spec), spec)


def mean_score(metric, samples: list[Sample]) -> float | None:
    """The metric's mean over the samples it did not abstain on (None when it abstained on all)."""
    return mean_value(metric.score(samples))


def mean_value(feedback: list[Feedback]) -> float | None:
    values = [fb.value for fb in feedback if fb.value is not None]
    return sum(values) / len(values) if values else None
