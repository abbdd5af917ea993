import random

import pytest

from core.records import Sample
from models.tiny_reward import build_tiny_reward_model, synthetic_conversation
from rewards.letter_share import letter_share
from rewards.reward_model import RewardModelSource


@pytest.fixture(scope="module")
def reward_model_path(tiny_config):
    return str(build_tiny_reward_model(tiny_config))


def test_tiny_reward_model_ranks_held_out_pairs(reward_model_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(reward_model_path)
    model = AutoModelForSequenceClassification.from_pretrained(reward_model_path).eval()
    rng = random.Random(12345)  # not the training stream
    # pairs whose shares differ by more than 0.1 (about a third): the model agrees on about 0.88 of them, and on
    # 0.81 of those differing by 0.05 (measured on 1000 pairs), too close to any bar for a few dozen pairs
    pairs = [(synthetic_conversation(rng), synthetic_conversation(rng)) for _ in range(1000)]
    pairs = [(a, b) for a, b in pairs if abs(a[1] - b[1]) > 0.1]
    with torch.no_grad():
        def score(messages):
            text = tokenizer.apply_chat_template(messages, tokenize=False)
            return model(**tokenizer(text, return_tensors="pt", add_special_tokens=False)).logits[0, 0].item()

        agree = sum((score(a[0]) > score(b[0])) == (a[1] > b[1]) for a, b in pairs)
    assert agree / len(pairs) > 0.8


def test_reward_model_source_rerenders_with_its_own_template(reward_model_path, tokenizer):
    source = RewardModelSource(reward_model_path, batch_size=2)
    assert len(source.tokenizer) != len(tokenizer)  # a different tokenizer from the policy's
    messages = [{"role": "user", "content": "write about the moon."}]
    samples = [Sample(f"s{i}", "p", "policy-rendered text the reward model never sees", [1], [2], text, [0.0], "stop",
                      0, 0, 0, prompt_messages=messages) for i, text in enumerate(["moon door book", "apple city tree"])]
    assert source.render(samples[0]) == "<|user|>write about the moon.</s><|assistant|>moon door book</s>"
    feedback = source.score(samples)
    assert [f.sample_id for f in feedback] == ["s0", "s1"]
    assert letter_share("moon door book", "o") > letter_share("apple city tree", "o")
    assert feedback[0].value > feedback[1].value


def test_bradley_terry_loss_with_soft_labels_by_hand():
    import math

    import torch

    from learner.reward_model_training import bradley_terry_loss

    margins, preferences = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.75])
    by_hand = [-math.log(1 / (1 + math.exp(-2.0))),
               -(0.75 * math.log(1 / (1 + math.exp(1.0))) + 0.25 * math.log(1 / (1 + math.exp(-1.0))))]
    assert bradley_terry_loss(margins, preferences).item() == pytest.approx(sum(by_hand) / 2, rel=1e-6)


def test_train_rm_learns_held_out_pairs_and_its_folder_loads(tmp_path, tiny_model_path, capsys):
    import json

    from launch import cli

    rng = random.Random(0)
    words = "cat dog tree river rain snow wind stone road".split()
    rows = []
    for i in range(240):  # by day the better answer names the sun, by night the moon; soft labels on a quarter
        time, better, worse = ("day", "sun", "moon") if i % 2 else ("night", "moon", "sun")
        prompt = f"write about {rng.choice(words)} by {time}."
        filler = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        row = {"prompt": prompt, "chosen": f"{filler} {better}.", "rejected": f"{filler} {worse}."}
        if rng.random() < 0.25:
            row["preference"] = 0.9
        rows.append(row)
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "rm"
    assert cli(["train-rm", str(data), "--base", tiny_model_path, "--out", str(out), "--lr", "1e-3",
                "--held-out", "0.25"]) == 0
    report = json.loads((out / "train_rm.json").read_text())
    assert report["held_out_pairs"] == 60 and report["training_pairs"] == 180 and report["steps"] == 2 * 12
    assert report["held_out_accuracy"] >= 0.95  # the model before training: 0.78 (one word alone gets 0.5)
    assert "held-out pair accuracy" in capsys.readouterr().out
    source = RewardModelSource(str(out), batch_size=4)
    messages = [{"role": "user", "content": "write about cat by night."}]
    sun, moon = (Sample(f"s{i}", "p", "", [], [], text, [], "stop", 0, 0, 0, prompt_messages=messages)
                 for i, text in enumerate(("dog sun.", "dog moon.")))
    assert source.score([moon])[0].value > source.score([sun])[0].value


def test_train_rm_names_a_bad_row(tmp_path, tiny_model_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "p", "chosen": "c", "rejected": "r", "preference": 2}\n')
    with pytest.raises(SystemExit, match="train-rm DATA .*row 1's 'preference' is 2"):
        from learner.reward_model_training import main

        main([str(data), "--base", tiny_model_path, "--out", str(tmp_path / "rm")])
