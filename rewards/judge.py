"""LLM-as-a-judge scoring by the policy itself (self-rewarding, Yuan et al. 2024; direct RLAIF, Lee et al.).

The judge reads an additive 5-point rubric (the template is configurable) and is asked to answer
"Score: N". Instead of sampling a reply and parsing it, the score is the probability-weighted mean over
the next-token log-probs of the digits 0..5 after "Score:" (direct RLAIF), so every sample gets a score
unless its judge prompt does not fit the engine (then it abstains, counted and recorded).
"""

from __future__ import annotations

import math

from core.records import Feedback, Sample

DEFAULT_TEMPLATE = (  # the additive 5-point rubric, condensed so that a small model's context holds it
    "Score the response from 0 to 5, a point each if relevant, complete, useful, clear, expert.\n"
    "Request: {question}\nResponse: {response}"
)
SCORES = range(6)


def judge_prefix(tokenizer, sample: Sample, template: str) -> str:
    """The judge's prompt, rendered with the judge's chat template, ending with "Score:"."""
    question = "\n".join(m["content"] for m in sample.prompt_messages if m["role"] == "user")
    messages = [{"role": "user", "content": template.format(question=question, response=sample.response_text)}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + "Score:"


def score_tokens(tokenizer, prefix: str) -> tuple[list[int], list[int]]:
    """(token ids of the prefix, the one token that each score digit adds after it)."""
    variants = [tokenizer(f"{prefix} {score}", add_special_tokens=False)["input_ids"] for score in SCORES]
    common = variants[0][:-1]
    if any(v[:-1] != common for v in variants):
        raise ValueError("judge: this tokenizer does not write each score digit 0-5 as one token after 'Score:'")
    return common, [v[-1] for v in variants]


def expected_score(logprobs: list[float]) -> float:
    """sum_s s * p(s), with p the softmax of the digits' log-probs (renormalised over 0..5)."""
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    return sum(s * w for s, w in zip(SCORES, weights)) / sum(weights)


class SelfJudge:
    """The current policy judges its own samples. next_token_logprobs is the rollout engine's method of
    that name (through Ray), so the judge is updated whenever the policy is."""

    def __init__(self, next_token_logprobs, tokenizer_path: str, template: str, max_tokens: int):
        from transformers import AutoTokenizer

        self.next_token_logprobs, self.template, self.max_tokens = next_token_logprobs, template, max_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        self.name = "self_judge"

    def score(self, samples: list[Sample]) -> list[Feedback]:
        prompts = [score_tokens(self.tokenizer, judge_prefix(self.tokenizer, s, self.template)) for s in samples]
        fits = [i for i, (ids, _) in enumerate(prompts) if len(ids) + 1 <= self.max_tokens]
        rows = self.next_token_logprobs([prompts[i][0] for i in fits], prompts[0][1]) if fits else []
        by_index = dict(zip(fits, rows))
        feedback = []
        for i, sample in enumerate(samples):
            if i not in by_index:
                feedback.append(Feedback(sample.sample_id, "score", None, self.name,
                                         raw=f"judge prompt of {len(prompts[i][0])} tokens exceeds reward.judge_max_tokens"))
                continue
            probabilities = [math.exp(lp) for lp in by_index[i]]
            total = sum(probabilities)
            raw = "P(score 0..5) = " + ", ".join(f"{p / total:.3f}" for p in probabilities)
            feedback.append(Feedback(sample.sample_id, "score", expected_score(by_index[i]), self.name, raw=raw))
        return feedback
