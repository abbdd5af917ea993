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
