"""Typed records shared by every part: prompts, samples, feedback."""

from __future__ import annotations

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


@dataclass
class Feedback:
    """A feedback source's answer for one sample. value None means it abstained (never a silent zero)."""

    sample_id: str
    kind: Literal["score", "binary", "pair"]
    value: float | None
    source: str
    raw: str = ""  # the judge's raw reply, or a note on why it abstained
