import pytest

from core.config import AlgorithmConfig
from core.records import Sample
from learner.algorithms import lookup
from learner.one_update import split_units
from learner.policy_gradient import grpo_advantages, rloo_advantages
from rewards.signals import best_vs_worst_pairs, binary_labels, group_advantages, mismatched_samples


def _samples(prompt_ids):
    return [Sample(f"s{i}", pid, "", [1], [2], "", [0.0], "stop", 0, 0, 0) for i, pid in enumerate(prompt_ids)]


def test_binary_labels_threshold_is_inclusive():
    assert binary_labels([0.2, 0.5, 0.9], 0.5) == [0.0, 1.0, 1.0]


def test_best_vs_worst_pairs_drop_ties():
    pairs, dropped = best_vs_worst_pairs(["a", "a", "a", "b", "b", "c"], [0.1, 0.9, 0.5, 0.3, 0.3, 1.0])
    assert pairs == [(1, 0)]  # prompt b ties, prompt c has one sample
    assert dropped == 2


def test_group_advantages_per_prompt():
    samples = _samples(["a", "b", "a", "b", "c"])
    rloo = group_advantages(samples, [1.0, 0.0, 3.0, 2.0, 5.0], rloo_advantages)
    assert rloo == pytest.approx([-2.0, -2.0, 2.0, 2.0, 0.0])
    grpo = group_advantages(samples, [1.0, 0.0, 3.0, 2.0, 5.0], grpo_advantages)
    assert grpo[0] == pytest.approx(-1.0 / (2**0.5 + 1e-4)) and grpo[4] == 0.0


def _signal(samples, raw, targets, **algorithm):
    cfg = AlgorithmConfig(**algorithm)
    return lookup(cfg).signal(cfg, samples, raw, targets)


def test_learning_signal_per_algorithm():
    samples = _samples(["a", "a"])
    raw, targets = [0.2, 0.45], [0.0, 1.0]
    score = _signal(samples, raw, targets)
    assert (score.learns_from, score.scores, score.labels, score.pairs) == ("scores", targets, [], [])
    binary = _signal(samples, raw, targets, feedback="binary", binary_threshold=0.5)
    assert (binary.learns_from, binary.labels, binary.per_sample()) == ("labels", [0.0, 1.0], [0.0, 1.0])
    for pairwise in (dict(feedback="pairwise"), dict(name="dpo"), dict(name="simpo")):
        pairs = _signal(samples, raw, targets, **pairwise)
        assert (pairs.learns_from, pairs.pairs, pairs.per_sample()) == ("pairs", [(1, 0)], targets)
    assert _signal(samples, raw, targets, name="kto").labels == [0.0, 1.0]
    rloo = _signal(samples, raw, targets, name="rloo")
    assert rloo.learns_from == "advantages" and rloo.advantages == pytest.approx([-0.25, 0.25])
    assert _signal(samples, raw, targets, name="ppo").scores == targets
    tied = _signal(samples, [0.3, 0.3], targets, name="dpo")
    assert tied.empty and tied.ties_dropped == 1 and not score.empty


def test_split_units_keeps_pairs_together_and_fills_every_chunk():
    chunks = split_units([[0, 1], [2, 3], [4, 5]], micro_batch_size=4, chunks=3)
    assert chunks == [[[0, 1], [2, 3]], [[4, 5]], []]
    assert split_units([[0], [1], [2]], 1, 3) == [[[0]], [[1]], [[2]]]
    with pytest.raises(ValueError, match="do not fit"):
        split_units([[0], [1], [2]], 1, 2)


def test_mismatched_samples_take_another_prompts_response():
    samples = _samples(["a", "a", "b", "b"])
    for i, s in enumerate(samples):
        s.response_token_ids = [100 + i]
    mismatched = mismatched_samples(samples)
    assert [(m.prompt_id, m.response_token_ids) for m in mismatched] == [("a", [102]), ("a", [102]), ("b", [100]), ("b", [100])]
    assert len({m.sample_id for m in mismatched}) == 4
    assert mismatched_samples(_samples(["a", "a"])) == []


def test_pack_by_tokens_puts_similar_lengths_together_within_the_budget():
    from learner.batch import pack_by_tokens

    lengths = [10, 4, 9, 3, 12, 5]  # a 1-token prompt each, and the rest response
    samples = [Sample(f"s{i}", f"p{i}", "", [1], [2] * (n - 1), "", [0.0] * (n - 1), "stop", 0, 0, 0)
               for i, n in enumerate(lengths)]
    # longest first: 12, 10, 9 (3 rows x 12 = 36 > 30: 12 and 10 only), then 9, 5, 4 (3 x 9 = 27), then 3
    assert pack_by_tokens([[i] for i in range(6)], samples, 30) == [[[4], [0]], [[2], [5], [1]], [[3]]]
    # a pair stays whole and counts two rows; a unit over the budget is alone
    assert pack_by_tokens([[0, 1], [2, 3], [4]], samples, 20) == [[[4]], [[0, 1]], [[2, 3]]]


def test_reference_logprobs_do_not_depend_on_how_they_are_batched(tiny_model_path, random_samples):
    import random

    from transformers import AutoModelForCausalLM

    from learner.logprobs import response_logprobs

    samples = random_samples(8, random.Random(1))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path).eval()
    fixed = response_logprobs(model, samples, 0, 3)
    by_tokens = response_logprobs(model, samples, 0, 3, max_tokens=30)
    shared = response_logprobs(model, samples, 0, 3, max_tokens=30, share=True)  # one prompt: several a row
    assert [len(row) for row in fixed] == [len(s.response_token_ids) for s in samples]
    for a, b, c in zip(fixed, by_tokens, shared):
        assert a == pytest.approx(b, abs=1e-5)
        assert a == pytest.approx(c, abs=1e-5)
