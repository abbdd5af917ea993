"""Rewards from a user's Python function, and the built-in rules (regular expression, length).

A reward function takes (prompt, response) texts, the prompt as the policy saw it (chat template
applied), or (prompt, response, answer) with the prompt's reference answer (data.answer_field), and
returns a float, or None to abstain. It is named in the config as `package.module:function` or
`path/to/file.py:function`, and called concurrently from a thread pool. A call that runs longer than
reward.timeout_s stops the run with an error naming the function (a thread cannot be interrupted, and
a reward that takes minutes per sample would stall every step).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import re
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from core.records import Feedback, Sample

RewardFn = Callable[..., "float | None"]  # (prompt, response) or (prompt, response, answer)


def load_function(spec: str) -> RewardFn:
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise ValueError(f"reward.function {spec!r} must look like package.module:function or path/to/file.py:function")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"reward.function: file {target} does not exist")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"reward.function: {target} has no function named {name!r}")
    return function


class RewardTimeout(RuntimeError):
    """A reward function call ran past reward.timeout_s."""


class FunctionReward:
    """Calls fn(prompt, response) per sample. None, a non-number, NaN or an exception is an abstention,
    kept with the reason in Feedback.raw, never a made-up score."""

    def __init__(self, function: RewardFn, name: str, concurrency: int = 8, timeout_s: float = 30.0):
        self.function, self.name, self.concurrency, self.timeout_s = function, name, concurrency, timeout_s
        self.takes_answer = _positional_count(function) >= 3

    def score(self, samples: list[Sample]) -> list[Feedback]:
        started: dict[str, float] = {}  # sample id -> when its call began
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            futures = {pool.submit(self._one, sample, started): sample for sample in samples}
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=min(1.0, self.timeout_s), return_when=FIRST_COMPLETED)
                self._check_deadlines([futures[f] for f in pending], started)
            return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # a call past its deadline is left to finish alone

    def _check_deadlines(self, running: list[Sample], started: dict[str, float]) -> None:
        now = time.monotonic()
        for sample in running:
            began = started.get(sample.sample_id)
            if began is not None and now - began > self.timeout_s:
                raise RewardTimeout(f"reward function {self.name} took more than reward.timeout_s={self.timeout_s:g} s "
                                    f"on sample {sample.sample_id}; make it faster, or raise reward.timeout_s")

    def _one(self, sample: Sample, started: dict[str, float]) -> Feedback:
        started[sample.sample_id] = time.monotonic()
        try:
            args = (sample.prompt_text, sample.response_text) + ((sample.answer,) if self.takes_answer else ())
            value = self.function(*args)
        except Exception as err:  # a failure on one sample is that sample's abstention
            return Feedback(sample.sample_id, "score", None, self.name, raw=f"raised {type(err).__name__}: {err}")
        if value is None:
            return Feedback(sample.sample_id, "score", None, self.name, raw="returned None")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return Feedback(sample.sample_id, "score", None, self.name, raw=f"returned {value!r}, not a finite number")
        return Feedback(sample.sample_id, "score", float(value), self.name)


def exact_match_rule(prompt: str, response: str, answer: str) -> float | None:
    """1.0 when the response equals the reference answer after normalising case, spaces and a final period."""
    if not answer:
        return None  # abstain: nothing to compare with
    return 1.0 if _normalized(response) == _normalized(answer) else 0.0


def _normalized(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


def _positional_count(function: Callable) -> int:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: the two-argument form
        return 2
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds for p in parameters)


def regex_rule(pattern: str) -> RewardFn:
    """1.0 when the response contains a match of the pattern (re.search), else 0.0."""
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"reward.pattern {pattern!r} is not a valid regular expression: {err}") from None
    return lambda prompt, response: 1.0 if compiled.search(response) else 0.0


def length_rule(target_words: int) -> RewardFn:
    """1 - |words - target| / target, floored at 0: 1.0 at exactly the target length."""
    if target_words <= 0:
        raise ValueError("reward.target_words must be positive for reward.kind length")
    return lambda prompt, response: max(0.0, 1 - abs(len(response.split()) - target_words) / target_words)
