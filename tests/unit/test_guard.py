import pytest

from core.records import Sample
from rewards.guard import build_guard, mean_score, topic_recall
from tasks.toy import prompt, topic_pairs

PROMPT = "<|user|>write about cats and rain.</s><|assistant|>"


def test_topic_recall_counts_the_topics_named_singular_or_plural():
    assert topic_recall(PROMPT, "cats and rain.") == 1.0
    assert topic_recall(PROMPT, "a cat sat.") == 0.5  # "cats" named as "cat"
    assert topic_recall(PROMPT, "moon moon moon") == 0.0
    assert topic_recall("<|user|>tell me a joke.</s>", "cats") is None  # not a toy prompt: no value


def test_the_guard_is_chosen_by_config_and_averages_over_samples():
    samples = [Sample(f"s{i}", "p", PROMPT, [1], [2], text, [0.0], "stop", 0, 0, 0)
               for i, text in enumerate(["cats and rain.", "rain", "door"])]
    assert mean_score(build_guard("auto", toy_data=True), samples) == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert build_guard("auto", toy_data=False) is None and build_guard("none", toy_data=True) is None
    custom = build_guard("rewards.guard:topic_recall", toy_data=False)
    assert mean_score(custom, samples[:1]) == 1.0
    with pytest.raises(ValueError, match="must look like"):
        build_guard("no_colon", toy_data=True)


@pytest.mark.parametrize("l1", [0.0, 0.3])
def test_the_warm_start_teaches_the_skill_the_guard_watches(tiny_config, tiny_model_path, l1):
    """With PAFT's L1 penalty too, changing few weights: the SFT delta is sparse (measured: 9% non-zero)."""
    import dataclasses

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from models.tiny import build_tiny_model

    path = build_tiny_model(dataclasses.replace(tiny_config, sft_steps=600, sft_l1=l1))
    model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    untrained = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    base = dict(untrained.named_parameters())
    changed = sum(int((p != base[n]).sum()) for n, p in model.named_parameters()) / sum(p.numel() for p in base.values())
    assert changed < 0.15 if l1 else changed > 0.95
    # the mean over 32 pairs: how much of the skill 600 plain steps teach moves with the CPU's float rounding
    # (4 pairs: 0.75 or more on the CPU kinds before, 0.5 on a Xeon with AVX512, where these 32 gave 0.50)
    every_pair = topic_pairs()
    pairs = every_pair[::len(every_pair) // 32][:32]
    assert greedy_topic_recall(model, tokenizer, pairs) >= 0.3
    assert greedy_topic_recall(untrained, tokenizer, pairs) <= 0.1  # a random model names almost none


def greedy_topic_recall(model, tokenizer, pairs: list[tuple[str, str]]) -> float:
    import torch

    from models.tiny_sft import chat_prompt_ids

    recalls = []
    for first, second in pairs:
        ids = chat_prompt_ids(tokenizer, prompt(first, second))
        out = model.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False)
        recalls.append(topic_recall(prompt(first, second), tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)))
    return sum(recalls) / len(recalls)
