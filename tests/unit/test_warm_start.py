"""The lab model's warm start (models/tiny_sft.py): its held-out check decodes greedily and scores by hand-countable
answers, and training goes on past sft_steps until the check passes or sft_max_steps are done."""

import dataclasses
import logging
import re

import pytest
import torch

import models.tiny_sft as sft
from core.config import ConfigError, TinyModelConfig, load_config
from rewards.judge_agreement import JudgeAgreement
from tasks import arithmetic


class SumAnsweringModel(torch.nn.Module):
    """Answers "what is a + b?" with a + b when a + b is even, a + b + 1 otherwise, then ends the sequence."""

    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    def forward(self, input_ids):
        logits = torch.zeros(*input_ids.shape, len(self.tokenizer))
        for row, ids in enumerate(input_ids.tolist()):
            text = self.tokenizer.decode(ids)
            a, b = map(int, re.search(r"(\d+) \+ (\d+)", text).groups())
            total = a + b if (a + b) % 2 == 0 else a + b + 1
            prompt = sft.chat_prompt_ids(self.tokenizer, arithmetic.question(a, b))
            answer = self.tokenizer(f"{total}.", add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            written = len(ids) - len(prompt)
            logits[row, -1, answer[min(written, len(answer) - 1)]] = 1.0
        return type("Output", (), {"logits": logits})


def test_held_out_check_counts_exact_answers(lab_tokenizer):
    held_out = arithmetic.problems(held_out=True)
    even = sum((a + b) % 2 == 0 for a, b in held_out) / len(held_out)
    assert 0.3 < even < 0.7
    assert sft.held_out_sum_accuracy(SumAnsweringModel(lab_tokenizer), lab_tokenizer) == pytest.approx(even)


@pytest.fixture
def lab_start(lab_tokenizer):
    config = TinyModelConfig(vocab_size=400, skills=["arithmetic"], sft_steps=2, sft_lr=1e-3, sft_until_accuracy=0.4,
                             sft_max_steps=6)
    from models.tiny import _random_model

    return config, _random_model(config, lab_tokenizer)


def test_warm_start_goes_on_until_the_held_out_check_passes(monkeypatch, lab_tokenizer, lab_start):
    config, model = lab_start
    monkeypatch.setattr(sft, "CHECK_EVERY", 1)
    levels = iter([0.1, 0.2, 0.45, 0.9])
    monkeypatch.setattr(sft, "held_out_sum_accuracy", lambda model, tokenizer: next(levels))
    report = sft.supervised_warm_start(model, lab_tokenizer, config)
    assert report["steps"] == 4 and report["held_out_greedy_checks"] == [(2, 0.1), (3, 0.2), (4, 0.45)]
    assert report["last_loss"] > 0


def test_warm_start_stops_at_its_step_limit_and_says_so(monkeypatch, caplog, lab_tokenizer, lab_start):
    config, model = lab_start
    monkeypatch.setattr(sft, "CHECK_EVERY", 3)
    monkeypatch.setattr(sft, "held_out_sum_accuracy", lambda model, tokenizer: 0.1)
    with caplog.at_level(logging.WARNING):
        report = sft.supervised_warm_start(model, lab_tokenizer, config)
    assert report["steps"] == 6 and [step for step, _ in report["held_out_greedy_checks"]] == [2, 5, 6]
    assert "greedy accuracy on the held-out sums is 0.10, under model.tiny.sft_until_accuracy 0.40 after 6 steps" in caplog.text
    assert "model.tiny.sft_max_steps" in caplog.text


def test_without_a_target_the_warm_start_is_exactly_its_steps(monkeypatch, lab_tokenizer, lab_start):
    config, model = lab_start
    monkeypatch.setattr(sft, "held_out_sum_accuracy", lambda model, tokenizer: pytest.fail("no check was asked for"))
    report = sft.supervised_warm_start(model, lab_tokenizer, dataclasses.replace(config, sft_until_accuracy=0.0))
    assert report["steps"] == 2 and report["held_out_greedy_checks"] == []


def test_the_check_needs_sums_and_room_to_go_on():
    with pytest.raises(ConfigError, match="model.tiny.sft_until_accuracy checks the warm start's held-out sums"):
        load_config(None, ["model.tiny.sft_steps=10", "model.tiny.sft_until_accuracy=0.4", "model.tiny.sft_max_steps=20"])
    with pytest.raises(ConfigError, match="sft_max_steps above model.tiny.sft_steps"):
        load_config(None, ["model.tiny.skills=[topics,arithmetic]", "model.tiny.sft_steps=10",
                           "model.tiny.sft_until_accuracy=0.4"])


def test_with_judging_the_warm_start_goes_on_until_both_checks_pass(monkeypatch, lab_tokenizer, lab_start):
    config, model = lab_start
    config = dataclasses.replace(config, skills=["arithmetic", "judging"], sft_until_judge_agreement=0.7, sft_max_steps=9)
    monkeypatch.setattr(sft, "CHECK_EVERY", 1)
    sums, agreements = iter([0.1, 0.5, 0.5, 0.5, 0.5]), iter([0.8, 0.6, 0.65, 0.72, 0.9])
    monkeypatch.setattr(sft, "held_out_sum_accuracy", lambda model, tokenizer: next(sums))
    measured = []

    def judge(model, tokenizer, mode):
        measured.append(mode)
        return JudgeAgreement(next(agreements) if len(measured) <= 4 else 0.5, None, None, 256, 0)

    monkeypatch.setattr(sft, "held_out_judge", judge)
    report = sft.supervised_warm_start(model, lab_tokenizer, config)
    # steps 2 (sums short), 3 (judge short), 4 (judge short), 5: both reached
    assert report["steps"] == 5 and report["judge_agreement_checks"] == [(2, 0.8), (3, 0.6), (4, 0.65), (5, 0.72)]
    assert measured == ["pairwise"] * 4 + ["direct", "pairwise"]  # then the report's measure in both modes
    assert set(report["judge"]) == {"direct", "pairwise"}


def test_the_judging_check_needs_the_skill_for_either_tiny_model():
    with pytest.raises(ConfigError, match="model.tiny.sft_until_judge_agreement checks the warm start's judging: it "
                                          "needs judging in model.tiny.skills"):
        load_config(None, ["model.tiny.sft_steps=10", "model.tiny.sft_until_judge_agreement=0.7",
                           "model.tiny.sft_max_steps=20"])
    with pytest.raises(ConfigError, match="reward.judge.tiny.sft_until_judge_agreement .* reward.judge.tiny.sft_max_steps "
                                          "above reward.judge.tiny.sft_steps"):
        load_config(None, ["reward.judge.tiny.skills=[writing,judging]", "reward.judge.tiny.sft_steps=10",
                           "reward.judge.tiny.sft_until_judge_agreement=0.7"])


def test_a_batch_holds_each_prompt_and_its_answer_ending_the_sequence(lab_tokenizer):
    """The batched tokenizing (cached prompts, the answers in one call) against each text tokenized alone."""
    import functools
    import random

    skills = ["arithmetic", "writing"]
    texts, _ = sft.batch_texts(skills, random.Random(3))
    ids, mask, labels, rows = sft._batch(lab_tokenizer, functools.partial(sft.chat_prompt_ids, lab_tokenizer), skills,
                                         random.Random(3))
    assert [r.stop - r.start for r in rows] == [sft.SFT_BATCH // 2] * 2
    for row, (question, answer) in enumerate(texts):
        prompt = sft.chat_prompt_ids(lab_tokenizer, question)
        response = lab_tokenizer(answer, add_special_tokens=False)["input_ids"] + [lab_tokenizer.eos_token_id]
        length = len(prompt) + len(response)
        assert ids[row, :length].tolist() == prompt + response and mask[row].sum() == length
        assert labels[row, len(prompt):length].tolist() == response and (labels[row, :len(prompt)] == -100).all()
