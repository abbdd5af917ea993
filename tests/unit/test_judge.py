import math

import pytest

from core.records import Sample
from rewards.judge import DEFAULT_TEMPLATE, SelfJudge, expected_score, judge_prefix, score_tokens


def _sample(response, question="write about the moon."):
    return Sample("s0", "p", "", [1], [2], response, [0.0], "stop", 0, 0, 0,
                  prompt_messages=[{"role": "user", "content": question}])


def test_expected_score_is_the_probability_weighted_mean():
    assert expected_score([math.log(1.0)] + [-1e9] * 5) == pytest.approx(0.0)
    assert expected_score([-1e9] * 5 + [0.0]) == pytest.approx(5.0)
    # p(2) = p(4) = 1/2 after renormalising
    assert expected_score([-1e9, -1e9, math.log(0.2), -1e9, math.log(0.2), -1e9]) == pytest.approx(3.0)


def test_judge_prompt_and_its_score_tokens(tokenizer):
    prefix = judge_prefix(tokenizer, _sample("moon door"), "q: {question} r: {response}")
    assert prefix == "<|user|>q: write about the moon. r: moon door</s><|assistant|>Score:"
    ids, candidates = score_tokens(tokenizer, prefix)
    assert len(set(candidates)) == 6
    for score, token in enumerate(candidates):
        assert tokenizer(f"{prefix} {score}", add_special_tokens=False)["input_ids"] == ids + [token]


def test_self_judge_scores_and_abstains_on_prompts_too_long(tiny_model_path):
    calls = []

    def next_token_logprobs(prefixes, candidates):
        calls.append(len(prefixes))
        return [[-1e9, -1e9, -1e9, 0.0, -1e9, -1e9] for _ in prefixes]  # always "3"

    judge = SelfJudge(next_token_logprobs, tiny_model_path, DEFAULT_TEMPLATE, max_tokens=120)
    feedback = judge.score([_sample("moon"), _sample("moon " * 200)])
    assert calls == [1]
    assert feedback[0].value == pytest.approx(3.0)
    assert feedback[0].raw.startswith("P(score 0..5) = 0.000, 0.000, 0.000, 1.000")
    assert feedback[1].value is None and "exceeds reward.judge_max_tokens" in feedback[1].raw
