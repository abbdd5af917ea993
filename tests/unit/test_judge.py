import math

import pytest

from core.config import ConfigError, JudgeConfig
from core.records import Sample
from rewards.judge import (
    LLMJudge,
    candidate_tokens,
    expected_score,
    load_templates,
    parse_score,
    preference,
    render,
)

NEVER = -1e9


def _sample(response, question="write about the moon.", prompt_id="p", n=0):
    return Sample(f"train-i1-s1-{prompt_id}-n{n}", prompt_id, "", [1], [2], response, [0.0], "stop", 0, 1, 1,
                  prompt_messages=[{"role": "user", "content": question}])


class ScriptedEngine:
    """Answers like a vLLM engine would, from a script keyed by the text of the judge's prompt."""

    def __init__(self, tokenizer, logprobs_for=None, replies=None):
        self.tokenizer, self.logprobs_for, self.replies = tokenizer, logprobs_for, replies
        self.calls: list[tuple[str, int]] = []

    def next_token_logprobs(self, prefixes, candidates):
        self.calls.append(("logprobs", len(prefixes)))
        return [self.logprobs_for(self.tokenizer.decode(p)) for p in prefixes]

    def sample_texts(self, prefixes, n, temperature, top_p, max_tokens, seeds):
        self.calls.append(("sample", len(prefixes)))
        assert len(set(seeds)) == len(seeds)  # one reproducible seed per judged sample
        return [self.replies[: n] for _ in prefixes]


def test_expected_score_is_the_probability_weighted_mean():
    assert expected_score([math.log(1.0)] + [NEVER] * 5) == pytest.approx(0.0)
    assert expected_score([NEVER] * 5 + [0.0]) == pytest.approx(5.0)
    # p(2) = p(4) = 1/2 after renormalising
    assert expected_score([NEVER, NEVER, math.log(0.2), NEVER, math.log(0.2), NEVER]) == pytest.approx(3.0)


def test_parse_score_takes_the_last_score_and_rejects_others():
    assert parse_score("The response is relevant. Score: 4") == 4
    assert parse_score("Score: 2 ... on reflection, Score:5") == 5
    assert parse_score("Score: 7") is None  # outside the 0-5 rubric
    assert parse_score("Score: 45") is None
    assert parse_score("four points") is None


def test_preference_averages_both_orders_to_cancel_position_bias():
    # asked (a, b): P("1") = 0.8; asked (b, a): P("2") = 0.6  ->  P(a better) = (0.8 + 0.6) / 2
    assert preference([math.log(0.8), math.log(0.2)], [math.log(0.4), math.log(0.6)]) == pytest.approx(0.7)
    # a judge that always answers "1" whatever the order has no preference left
    assert preference([0.0, NEVER], [0.0, NEVER]) == pytest.approx(0.5)


def test_judge_prompt_and_its_candidate_tokens(tokenizer):
    prefix = render(tokenizer, "q: {question} r: {response}", question="write about the moon.", response="moon door")
    assert prefix == "<|user|>q: write about the moon. r: moon door</s><|assistant|>"
    ids, candidates = candidate_tokens(tokenizer, prefix + "Score:", [str(d) for d in range(6)])
    assert len(set(candidates)) == 6
    for score, token in enumerate(candidates):
        assert tokenizer(f"{prefix}Score: {score}", add_special_tokens=False)["input_ids"] == ids + [token]


def test_direct_mode_scores_and_abstains_on_prompts_too_long(tiny_model_path, tokenizer):
    engine = ScriptedEngine(tokenizer, logprobs_for=lambda text: [NEVER, NEVER, NEVER, 0.0, NEVER, NEVER])  # "3"
    judge = LLMJudge(engine, tiny_model_path, JudgeConfig(mode="direct", max_prompt_tokens=120), "self_judge")
    feedback = judge.score([_sample("moon"), _sample("moon " * 200, n=1)])
    assert engine.calls == [("logprobs", 1)]  # the long one was never sent
    assert feedback[0].value == pytest.approx(3.0)
    assert feedback[0].raw.startswith("P(score 0..5) = 0.000, 0.000, 0.000, 1.000")
    assert feedback[1].value is None and "exceeds reward.judge.max_prompt_tokens=120" in feedback[1].raw


def test_pointwise_mode_averages_parsed_replies_and_abstains_when_none_parse(tiny_model_path, tokenizer):
    cfg = JudgeConfig(mode="pointwise", samples=3)
    judge = LLMJudge(ScriptedEngine(tokenizer, replies=["ok. Score: 4", "Score: 1", "no idea"]), tiny_model_path,
                     cfg, "llm_judge")
    (scored,) = judge.score([_sample("moon")])
    assert scored.value == pytest.approx(2.5)  # (4 + 1) / 2: the unparsed reply is left out, not counted as 0
    assert "reply 3 (no score): 'no idea'" in scored.raw and "reply 1 (score 4)" in scored.raw

    judge = LLMJudge(ScriptedEngine(tokenizer, replies=["moon moon", "door"]), tiny_model_path,
                     JudgeConfig(mode="pointwise", samples=2), "llm_judge")
    (abstained,) = judge.score([_sample("moon")])
    assert abstained.value is None and "'moon moon'" in abstained.raw and "'door'" in abstained.raw


def test_pairwise_mode_compares_each_pair_in_both_orders(tiny_model_path, tokenizer):
    # A position-biased judge: prefers whichever response mentions "sun", and also leans to answer "1".
    def logprobs_for(text):
        # (the tiny tokenizer has no capitals: "Response 1: x" decodes as "<unk>esponse 1: x")
        first, second = text.split("esponse 1:")[1].split("esponse 2:")
        if "sun" in first and "sun" not in second:
            return [math.log(0.9), math.log(0.1)]
        if "sun" in second and "sun" not in first:
            return [math.log(0.3), math.log(0.7)]
        return [math.log(0.6), math.log(0.4)]

    engine = ScriptedEngine(tokenizer, logprobs_for=logprobs_for)
    judge = LLMJudge(engine, tiny_model_path, JudgeConfig(mode="pairwise"), "llm_judge")
    samples = [_sample("sun", n=0), _sample("moon", n=1), _sample("door", n=2), _sample("sun", prompt_id="q")]
    feedback = judge.score(samples)
    assert engine.calls == [("logprobs", 6)]  # 3 pairs of prompt p, each in both orders; prompt q has one sample
    p_sun = (0.9 + 0.7) / 2  # P(sun beats the other), asked as response 1 and as response 2
    assert feedback[0].value == pytest.approx(p_sun)
    assert feedback[1].value == pytest.approx(((1 - p_sun) + (0.6 + 0.4) / 2) / 2)  # bias cancels between equals
    assert feedback[2].value == pytest.approx(feedback[1].value)
    assert "vs n1: 0.800 (as response 1: 0.900, as 2: 0.700)" in feedback[0].raw
    assert feedback[3].value is None and "no other response" in feedback[3].raw


def test_templates_load_from_yaml_and_bad_ones_are_named(tmp_path):
    assert set(load_templates()) == {"direct", "pointwise", "pairwise"}
    bad = tmp_path / "judge.yaml"
    bad.write_text("pairwise: 'Which is better? {question} {response}'\n")
    with pytest.raises(ConfigError, match="'pairwise' template has placeholders.*response_1"):
        load_templates(str(bad))
    bad.write_text("pointwize: 'x'\n")
    with pytest.raises(ConfigError, match="expected a mapping with the keys"):
        load_templates(str(bad))
    with pytest.raises(ConfigError, match="does not exist"):
        load_templates(str(tmp_path / "missing.yaml"))
    bad.write_text("direct: 'Rate {question} {response} on a scale { 0-5'\n")
    with pytest.raises(ConfigError, match="'direct' template is not a valid format string.*write a literal brace as"):
        load_templates(str(bad))
