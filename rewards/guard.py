"""The guard metric: a skill the model must not lose while it is aligned (the alignment tax).

Scored on the held-out samples at every evaluation, beside the reward. For the toy task the skill is the
supervised warm start's (model.tiny.sft_steps): answering "write about X and Y." by naming X and Y; the
guard is the share of the two topic words a response names. Any other guard is a function
f(prompt, response[, answer]) -> float named as `package.module:function` or `path/to/file.py:function`.
"""

from __future__ import annotations

import re

from core.records import Sample

TOY_PROMPT = re.compile(r"write about (\w+) and (\w+)\.")


def topic_recall(prompt: str, response: str) -> float | None:
    """Share of the prompt's two topics named in the response (a topic counts in singular or plural)."""
    found = TOY_PROMPT.search(prompt)
    if not found:
        return None  # not a toy prompt: no guard value for it
    words = set(re.findall(r"\w+", response.lower()))
    return sum(_named(topic, words) for topic in found.groups()) / 2


def _named(topic: str, words: set[str]) -> bool:
    return topic in words or topic.rstrip("s") in words or f"{topic}s" in words


def build_guard(spec: str, toy_data: bool):
    """The guard as a reward source over samples, or None. spec: "auto" (topic recall on the toy task,
    none otherwise), "none", or a function as for reward.kind function."""
    from rewards.function import FunctionReward, load_function

    if spec == "none" or (spec == "auto" and not toy_data):
        return None
    if spec == "auto":
        return FunctionReward(topic_recall, "topic_recall")
    return FunctionReward(load_function(spec), spec)


def mean_guard(guard, samples: list[Sample]) -> float | None:
    values = [fb.value for fb in guard.score(samples) if fb.value is not None]
    return sum(values) / len(values) if values else None
