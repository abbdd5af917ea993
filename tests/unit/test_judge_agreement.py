"""The judge measured (rewards/judge_agreement.py, rewards/preference_pairs.py) and the lab's judging skill
(tasks/judging.py): agreement, position consistency and length preference against hand-counted verdicts, the
pairs a run measures on, and the judging examples the warm start teaches."""

import json
import math
import random

import pytest
import torch

from core.config import JudgeConfig
from core.data import DataError
from core.records import LabelledPair
from rewards.hf_engine import TransformersEngine
from rewards.judge import LLMJudge, load_templates
from rewards.judge_agreement import PairVerdict, measure, score_verdicts, verdict_of_scores
from rewards.preference_pairs import LAB_PAIRS, LAB_TIES, load_judge_pairs
from tasks import judging, writing
from tests.unit.test_judge import ScriptedEngine

PAIRS = [LabelledPair("q", "good answer", "bad"), LabelledPair("q", "good", "bad answer"),
         LabelledPair("q", "fine", "poor"), LabelledPair("q", "a b c", "d", tie=True),
         LabelledPair("q", "e", "f g h", tie=True)]


def test_measures_count_as_by_hand():
    verdicts = [PairVerdict(0.9, 0.7),  # right in both orders: agrees, consistent
                PairVerdict(0.8, 0.3),  # prefers position 1 whatever it holds: preference 0.55 agrees, inconsistent
                PairVerdict(0.2, 0.4),  # wrong in both orders: disagrees, consistent
                PairVerdict(0.7, 0.6),  # tie, the longer ("a b c") shown first wins; consistent
                PairVerdict(0.6, 0.2)]  # tie, the longer is the second ("f g h"): it wins with 1 - 0.4; inconsistent
    result = measure(PAIRS, verdicts)
    assert result.agreement == pytest.approx(2 / 3)
    assert result.position_consistency == pytest.approx(3 / 5)
    assert result.length_preference == pytest.approx(1.0)
    assert (result.pairs, result.abstained) == (3, 0)
    assert result.metrics() == {"judge_agreement": pytest.approx(2 / 3), "judge_position_consistency": pytest.approx(0.6),
                                "judge_length_preference": 1.0}


def test_a_scoring_judge_has_no_positions_and_abstentions_are_counted():
    verdicts = [verdict_of_scores(3.0, 1.0), verdict_of_scores(2.0, 2.0), verdict_of_scores(None, 1.0),
                verdict_of_scores(1.0, 4.0), verdict_of_scores(0.0, 0.0)]
    result = measure(PAIRS, verdicts)
    assert result.agreement == pytest.approx((1 + 0.5) / 2)  # a tied score counts half; the abstention not at all
    assert result.position_consistency is None and result.abstained == 1
    assert result.length_preference == pytest.approx((0.0 + 0.5) / 2)  # the shorter "d" scored higher; a tie


class LengthScorer:
    name = "length"

    def score(self, samples):
        from core.records import Feedback

        return [Feedback(s.sample_id, "score", float(len(s.response_text)), self.name) for s in samples]


def test_any_source_is_measured_by_its_scores():
    verdicts = score_verdicts(LengthScorer(), PAIRS)
    assert [v.as_first for v in verdicts] == [1.0, 0.0, 0.5, 1.0, 0.0]  # "fine" and "poor" are as long
    assert measure(PAIRS, verdicts).length_preference == 1.0


def test_pairwise_judge_says_both_orders(tiny_model_path, tokenizer):
    def logprobs_for(text):  # prefers the response with "good", and leans to answer "1"
        first, second = text.split("esponse 1:")[1].split("esponse 2:")
        p = 0.9 if "good" in first else 0.3 if "good" in second else 0.6
        return [math.log(p), math.log(1 - p)]

    judge = LLMJudge(ScriptedEngine(tokenizer, logprobs_for=logprobs_for), tiny_model_path, JudgeConfig(mode="pairwise"), "j")
    verdicts = judge.compare(PAIRS[:2])
    assert [(v.as_first, v.as_second) for v in verdicts] == [pytest.approx((0.9, 0.7))] * 2


def test_examples_answer_as_the_gold_reward_does():
    templates, rng = load_templates(), random.Random(3)
    seen = set()
    for _ in range(300):
        prompt, answer = judging.judging_example(rng, templates)
        question = prompt.split("Request: ")[1].split("\n")[0]
        if "Response 1: " in prompt:
            first = prompt.split("Response 1: ")[1].split("\n")[0]
            second = prompt.split("Response 2: ")[1]
            gold_1, gold_2 = writing.writing_gold(question, first), writing.writing_gold(question, second)
            assert gold_1 != gold_2 and answer == f"Preferred: {1 if gold_1 > gold_2 else 2}"
        else:
            response = prompt.split("Response: ")[1].split("\n")[0]
            assert answer == f"Score: {round(writing.writing_gold(question, response) * 5)}"
        seen.add(answer)
    assert {"Preferred: 1", "Preferred: 2", "Score: 1", "Score: 4"} <= seen


def test_lab_pairs_are_ordered_by_gold_and_ties_differ_in_length():
    pairs = load_judge_pairs("writing_gold")
    assert len(pairs) == LAB_PAIRS + LAB_TIES and pairs == judging.labelled_pairs(LAB_PAIRS, LAB_TIES)
    for pair in pairs:
        chosen, rejected = (writing.writing_gold(pair.prompt, r) for r in (pair.chosen, pair.rejected))
        if pair.tie:
            assert chosen == pytest.approx(rejected) and len(pair.chosen.split()) != len(pair.rejected.split())
        else:
            assert chosen > rejected


def test_pairs_file_in_trl_formats_and_its_errors(tmp_path):
    rows = [{"prompt": "hi?", "chosen": "hello.", "rejected": "go."},
            {"prompt": [{"role": "system", "content": "be kind"}, {"role": "user", "content": "name?"}],
             "chosen": [{"role": "assistant", "content": "ann."}], "rejected": [{"role": "assistant", "content": "no."}]},
            {"prompt": "x", "chosen": "a b", "rejected": "c", "tie": True},
            {"prompt": "y", "chosen": "z.", "rejected": ""}]  # an empty response is a (bad) response
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert load_judge_pairs(str(path)) == [LabelledPair("hi?", "hello.", "go."), LabelledPair("name?", "ann.", "no."),
                                           LabelledPair("x", "a b", "c", tie=True), LabelledPair("y", "z.", "")]
    assert load_judge_pairs("") == []
    for bad, message in (({"prompt": "p", "chosen": "c"}, "row 1 has no 'rejected'"),
                         ({"prompt": "", "chosen": "c", "rejected": "r"}, "row 1's 'prompt' is empty"),
                         ({"prompt": "p", "chosen": 3, "rejected": "r"}, "row 1's 'chosen' is not text"),
                         ({"prompt": "p", "chosen": "c", "rejected": "r", "tie": "yes"}, "row 1's 'tie' is 'yes'"),
                         ({"prompt": "p", "chosen": "c", "rejected": "r", "tie": True}, "every row is a tie")):
        path.write_text(json.dumps(bad))
        with pytest.raises(DataError, match=f"evaluation.judge_pairs {path}: {message}"):
            load_judge_pairs(str(path))
    with pytest.raises(DataError, match="evaluation.judge_pairs missing.jsonl does not exist"):
        load_judge_pairs("missing.jsonl")


def test_transformers_engine_reads_the_last_real_position(tiny_model_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path).eval()
    prefixes, candidates = [[5, 20, 30, 40, 50], [7, 8]], [20, 21]
    rows = TransformersEngine(model, 0).next_token_logprobs(prefixes, candidates)
    for prefix, row in zip(prefixes, rows):
        alone = torch.log_softmax(model(input_ids=torch.tensor([prefix])).logits[0, -1], -1)[candidates]
        assert row == pytest.approx(alone.tolist(), abs=1e-5)


def test_without_position_swap_the_judge_asks_once_and_its_verdict_is_one_order(tiny_model_path, tokenizer):
    def logprobs_for(text):  # prefers "good" a little, and "1" a lot
        first, second = text.split("esponse 1:")[1].split("esponse 2:")
        p = 0.9 if "good" in first else 0.6 if "good" in second else 0.8
        return [math.log(p), math.log(1 - p)]

    from tests.unit.test_judge import _sample

    engine = ScriptedEngine(tokenizer, logprobs_for=logprobs_for)
    judge = LLMJudge(engine, tiny_model_path, JudgeConfig(mode="pairwise", swap_positions=False), "j")
    feedback = judge.score([_sample("good", n=0), _sample("bad", n=1)])
    assert engine.calls == [("logprobs", 1)]
    assert [fb.value for fb in feedback] == pytest.approx([0.9, 0.1]) and "asked once" in feedback[0].raw
    verdicts = judge.compare(PAIRS[:2])  # both orders are still asked: consistency is the model's, not the setting's
    assert [(v.as_first, v.as_second, v.used) for v in verdicts] == [(pytest.approx(0.9), pytest.approx(0.4), "first"),
                                                                     (pytest.approx(0.9), pytest.approx(0.4), "second")]
    result = measure(PAIRS[:2], verdicts)
    assert result.agreement == 0.5 and result.position_consistency == 0.0  # right when shown first, wrong second


def test_the_warm_start_teaches_the_tokens_the_judge_reads():
    """A judging example as the warm start tokenizes it is the judge's prompt, its prefill and the answer token."""
    from models.tiny import train_tokenizer
    from models.tiny_sft import chat_prompt_ids
    from rewards.judge import candidate_tokens, render

    tokenizer, templates = train_tokenizer(400, 0, ["writing", "judging"]), load_templates()
    for mode, prefill, labels in (("direct", "Score:", [str(d) for d in range(6)]), ("pairwise", "Preferred:", ["1", "2"])):
        rng = random.Random(0)
        while True:
            question, answer = judging.judging_example(rng, templates)
            if answer.startswith(prefill) and ("Response 1:" in question) == (mode == "pairwise"):
                break
        taught = chat_prompt_ids(tokenizer, question) + tokenizer(answer, add_special_tokens=False)["input_ids"]
        asked = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                              add_generation_prompt=True)
        assert asked == render(tokenizer, "{question}", question=question)
        prefix, candidates = candidate_tokens(tokenizer, asked + prefill, labels)
        assert taught == prefix + [candidates[labels.index(answer.split()[-1])]]
        assert tokenizer.unk_token_id not in taught
