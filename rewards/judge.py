"""LLM-as-a-judge feedback on a vLLM engine: the policy judging itself (self-rewarding, Yuan et al. 2024)
or a separate judge model (RLAIF, Lee et al.). Three modes (reward.judge.mode):

  direct     the answer is prefilled with "Score:"; the score is the probability-weighted mean of the digits
             0-5 read from the next-token log-probs (direct RLAIF). Every sample whose prompt fits is scored.
  pointwise  the judge writes `samples` replies; the last "Score: N" of each is parsed and the parsed scores
             averaged (self-rewarding). A sample none of whose replies parses abstains.
  pairwise   every two responses to the same prompt are compared: the answer is prefilled with "Preferred:",
             p = softmax over the log-probs of "1" and "2", asked again with the two swapped and averaged to
             cancel position bias. A sample's score is its mean probability of winning its comparisons.

An abstention is never a zero: it is Feedback(value=None) with the reason (or the raw replies) in `raw`.
"""

from __future__ import annotations

import math
import re
import string
import zlib
from itertools import combinations
from pathlib import Path
from typing import Protocol

import yaml

from core.config import ConfigError, JudgeConfig
from core.records import Feedback, LabelledPair, Sample
from rewards.judge_agreement import PairVerdict, score_verdicts

DEFAULT_TEMPLATES = Path(__file__).resolve().parents[1] / "configs" / "judge_templates.yaml"
TEMPLATE_FIELDS = {
    "direct": {"question", "response"},
    "pointwise": {"question", "response"},
    "pairwise": {"question", "response_1", "response_2"},
}
SCORES = range(6)
SCORE_PATTERN = re.compile(r"Score:\s*([0-5])(?![0-9])")


class JudgeEngine(Protocol):
    """What the judge needs of a vLLM engine (actors/rollout.RolloutEngine, through actors/oracle.py)."""

    def next_token_logprobs(self, prefixes: list[list[int]], candidates: list[int]) -> list[list[float]]: ...

    def sample_texts(self, prefixes: list[list[int]], n: int, temperature: float, top_p: float, max_tokens: int,
                     seeds: list[int]) -> list[list[str]]: ...


def load_templates(path: str = "") -> dict[str, str]:
    """The judge's prompt templates from YAML, checked: each mode's template names exactly its placeholders."""
    file = Path(path) if path else DEFAULT_TEMPLATES
    if not file.is_file():
        raise ConfigError(f"reward.judge.templates: {file} does not exist; copy {DEFAULT_TEMPLATES} and edit it")
    data = yaml.safe_load(file.read_text()) or {}
    if not isinstance(data, dict) or set(data) - set(TEMPLATE_FIELDS):
        raise ConfigError(f"{file}: expected a mapping with the keys {', '.join(TEMPLATE_FIELDS)}")
    for mode, text in data.items():
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(str(text)) if name is not None}
        except ValueError as err:  # a lone { or }: write {{ or }} for a literal brace
            raise ConfigError(f"{file}: the '{mode}' template is not a valid format string ({err}); write a literal "
                              "brace as {{ or }}") from None
        if fields != TEMPLATE_FIELDS[mode]:
            raise ConfigError(f"{file}: the '{mode}' template has placeholders {sorted(fields)}; "
                              f"it needs exactly {sorted(TEMPLATE_FIELDS[mode])}")
    return data


def render(tokenizer, template: str, **fields: str) -> str:
    """The judge's prompt in its own chat template, ready for its answer."""
    messages = [{"role": "user", "content": template.format(**fields)}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def candidate_tokens(tokenizer, prefix: str, labels: list[str]) -> tuple[list[int], list[int]]:
    """(token ids of the prefix, the one token that each label adds after it and a space)."""
    variants = [tokenizer(f"{prefix} {label}", add_special_tokens=False)["input_ids"] for label in labels]
    common = variants[0][:-1]
    if any(v[:-1] != common for v in variants):
        raise ValueError(f"judge: this tokenizer does not write each of {labels} as one token after '{prefix[-12:]}'")
    return common, [v[-1] for v in variants]


def expected_score(logprobs: list[float]) -> float:
    """sum_s s * p(s), with p the softmax of the digits' log-probs (renormalised over 0..5)."""
    weights = _softmax(logprobs)
    return sum(s * w for s, w in zip(SCORES, weights))


def parse_score(reply: str) -> int | None:
    """The last "Score: N" (N from 0 to 5) in a judge's reply, or None."""
    found = SCORE_PATTERN.findall(reply)
    return int(found[-1]) if found else None


def preference(first_order: list[float], swapped: list[float]) -> float:
    """P(a better than b), from the log-probs of ("1", "2") asked as (a, b) and again as (b, a)."""
    return (_softmax(first_order)[0] + _softmax(swapped)[1]) / 2


def question_of(sample: Sample) -> str:
    return "\n".join(m["content"] for m in sample.prompt_messages if m["role"] == "user") or sample.prompt_text


class LLMJudge:
    def __init__(self, engine: JudgeEngine, tokenizer, cfg: JudgeConfig, name: str):
        """tokenizer: the judge model's folder, or its tokenizer."""
        from transformers import AutoTokenizer

        self.engine, self.cfg, self.name = engine, cfg, name
        self.template = load_templates(cfg.templates)[cfg.mode]
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer) if isinstance(tokenizer, str) else tokenizer

    def score(self, samples: list[Sample]) -> list[Feedback]:
        by_mode = {"direct": self._direct, "pointwise": self._pointwise, "pairwise": self._pairwise}
        return by_mode[self.cfg.mode](samples)

    def compare(self, pairs: list[LabelledPair]) -> list[PairVerdict]:
        """The judge's verdict on each labelled pair (rewards/judge_agreement.py): in pairwise mode asked in both
        orders, each kept (position consistency needs both, whichever the judge's verdict uses); in the scoring
        modes, from the two responses' scores."""
        if self.cfg.mode != "pairwise":
            return score_verdicts(self, pairs)
        prompts = [self._preferred_prompt(pair.prompt, first, second) for pair in pairs
                   for first, second in ((pair.chosen, pair.rejected), (pair.rejected, pair.chosen))]
        rows = self._logprobs([ids for ids, _ in prompts], prompts[0][1] if prompts else [])
        # swap_positions false: the judge's verdict is one order, chosen shown first in every other pair
        used = ["both"] * len(pairs) if self.cfg.swap_positions else ["first", "second"] * (len(pairs) // 2 + 1)
        return [PairVerdict(None) if first is None or second is None else
                PairVerdict(_softmax(first)[0], _softmax(second)[1], used[k])
                for k, (first, second) in enumerate(zip(rows[::2], rows[1::2]))]

    def _direct(self, samples: list[Sample]) -> list[Feedback]:
        prompts = [candidate_tokens(self.tokenizer, self._prompt(s) + "Score:", [str(d) for d in SCORES])
                   for s in samples]
        rows = self._logprobs([ids for ids, _ in prompts], prompts[0][1] if prompts else [])
        feedback = []
        for sample, (ids, _), row in zip(samples, prompts, rows):
            if row is None:
                feedback.append(self._abstain(sample, self._too_long(ids)))
                continue
            raw = "P(score 0..5) = " + ", ".join(f"{p:.3f}" for p in _softmax(row))
            feedback.append(Feedback(sample.sample_id, "score", expected_score(row), self.name, raw=raw))
        return feedback

    def _pointwise(self, samples: list[Sample]) -> list[Feedback]:
        prompts = [self.tokenizer(self._prompt(s), add_special_tokens=False)["input_ids"] for s in samples]
        fits = [i for i, ids in enumerate(prompts) if self._fits(ids)]
        cfg = self.cfg
        replies = self.engine.sample_texts([prompts[i] for i in fits], cfg.samples, cfg.temperature, cfg.top_p,
                                           cfg.max_new_tokens, [_seed(samples[i].sample_id) for i in fits]) if fits else []
        replies_of = dict(zip(fits, replies))
        feedback = []
        for i, sample in enumerate(samples):
            if i not in replies_of:
                feedback.append(self._abstain(sample, self._too_long(prompts[i])))
                continue
            scores = [parse_score(reply) for reply in replies_of[i]]
            parsed = [s for s in scores if s is not None]
            raw = "\n".join(f"reply {k + 1} ({'no score' if s is None else f'score {s}'}): {reply!r}"
                            for k, (reply, s) in enumerate(zip(replies_of[i], scores)))
            value = sum(parsed) / len(parsed) if parsed else None
            feedback.append(Feedback(sample.sample_id, "score", value, self.name, raw=raw))
        return feedback

    def _pairwise(self, samples: list[Sample]) -> list[Feedback]:
        groups: dict[str, list[int]] = {}
        for i, sample in enumerate(samples):
            groups.setdefault(sample.prompt_id, []).append(i)
        compared = [pair for members in groups.values() for pair in combinations(members, 2)]
        asked = [order for i, j in compared for order in ((i, j), (j, i))[: 2 if self.cfg.swap_positions else 1]]
        prompts = [self._preferred_prompt(question_of(samples[a]), samples[a].response_text, samples[b].response_text)
                   for a, b in asked]
        rows = dict(zip(asked, self._logprobs([ids for ids, _ in prompts], prompts[0][1] if prompts else [])))
        won: dict[int, list[str]] = {i: [] for i in range(len(samples))}
        wins: dict[int, list[float]] = {i: [] for i in range(len(samples))}
        for a, b in compared:
            if rows[(a, b)] is None or rows.get((b, a), rows[(a, b)]) is None:
                won[a].append(f"vs {_short(samples[b])}: prompt too long")
                won[b].append(f"vs {_short(samples[a])}: prompt too long")
                continue
            first = _softmax(rows[(a, b)])[0]
            if (b, a) in rows:
                second = _softmax(rows[(b, a)])[1]
                p = preference(rows[(a, b)], rows[(b, a)])
                won[a].append(f"vs {_short(samples[b])}: {p:.3f} (as response 1: {first:.3f}, as 2: {second:.3f})")
                won[b].append(f"vs {_short(samples[a])}: {1 - p:.3f} (as response 1: {1 - second:.3f}, as 2: {1 - first:.3f})")
            else:
                p = first
                won[a].append(f"vs {_short(samples[b])}: {p:.3f} (asked once, as response 1)")
                won[b].append(f"vs {_short(samples[a])}: {1 - p:.3f} (asked once, as response 2)")
            wins[a].append(p)
            wins[b].append(1 - p)
        feedback = []
        for i, sample in enumerate(samples):
            if not wins[i]:
                reason = "; ".join(won[i]) or "no other response to this prompt to compare with"
                feedback.append(self._abstain(sample, f"P(win) unknown: {reason}"))
                continue
            raw = "P(win) " + "; ".join(won[i])
            feedback.append(Feedback(sample.sample_id, "score", sum(wins[i]) / len(wins[i]), self.name, raw=raw))
        return feedback

    def _prompt(self, sample: Sample) -> str:
        return render(self.tokenizer, self.template, question=question_of(sample), response=sample.response_text)

    def _preferred_prompt(self, question: str, first: str, second: str) -> tuple[list[int], list[int]]:
        """(the pairwise prompt's tokens up to "Preferred:", the tokens of "1" and "2")."""
        text = render(self.tokenizer, self.template, question=question, response_1=first, response_2=second)
        return candidate_tokens(self.tokenizer, text + "Preferred:", ["1", "2"])

    def _fits(self, ids: list[int]) -> bool:
        return len(ids) + 1 <= self.cfg.max_prompt_tokens

    def _logprobs(self, prefixes: list[list[int]], candidates: list[int]) -> list[list[float] | None]:
        """The engine's candidate log-probs for each prefix that fits, None for those that do not."""
        fits = [i for i, ids in enumerate(prefixes) if self._fits(ids)]
        rows = self.engine.next_token_logprobs([prefixes[i] for i in fits], candidates) if fits else []
        by_index = dict(zip(fits, rows))
        return [by_index.get(i) for i in range(len(prefixes))]

    def _too_long(self, ids: list[int]) -> str:
        return f"judge prompt of {len(ids)} tokens exceeds reward.judge.max_prompt_tokens={self.cfg.max_prompt_tokens}"

    def _abstain(self, sample: Sample, reason: str) -> Feedback:
        return Feedback(sample.sample_id, "score", None, self.name, raw=reason)


def _softmax(logprobs: list[float]) -> list[float]:
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def _short(sample: Sample) -> str:
    return sample.sample_id.rsplit("-", 1)[-1]


def _seed(sample_id: str) -> int:
    """A stable sampling seed per judged sample, so a judgement is reproducible."""
    return zlib.crc32(sample_id.encode())
