"""The alignment lab's tasks (tasks/): the gold reward by hand-checked examples, the arithmetic split, the data
source, the tokenizer's digits, the proxy's training pairs, and the lab bench's interval."""

import random
from pathlib import Path

import pytest

from core.config import ConfigError, DataConfig, load_config
from tasks import arithmetic, writing
from tasks.writing import gold_parts, writing_gold

LAB = str(Path(__file__).resolve().parents[2] / "configs" / "lab")
PROMPT = "<|user|>write about cats and rain.</s><|assistant|>"


def test_gold_reward_by_hand():
    # both topics, 8 words ("the" twice: 7/8 distinct), one final period, nothing disliked
    assert writing_gold(PROMPT, "the cats and the warm rain are near.") == pytest.approx(0.4 + 0.2 + 0.2 * 7 / 8 + 0.1 + 0.1)
    best = "cats and rain are near the old river."
    assert gold_parts(PROMPT, best) == {"topics": 1.0, "length": 1.0, "distinct": 1.0, "ending": 1.0, "liked": 1.0}
    assert writing_gold(PROMPT, best) == pytest.approx(1.0)
    # one topic (0.5), 4 words (1 - 4/8), "cats" twice (3/4 distinct), no period, a disliked word ("food")
    assert gold_parts(PROMPT, "cats cats eat food") == {"topics": 0.5, "length": 0.5, "distinct": 0.75, "ending": 0.0,
                                                        "liked": 0.0}
    assert writing_gold(PROMPT, "cats cats eat food") == pytest.approx(0.4 * 0.5 + 0.2 * 0.5 + 0.2 * 0.75)
    assert writing_gold(PROMPT, "") == 0.0
    assert writing_gold(PROMPT, "rain rain rain rain rain rain rain rain rain rain rain rain rain rain rain rain.") \
        == pytest.approx(0.4 * 0.5 + 0.0 + 0.2 / 16 + 0.1 + 0.1)  # 16 words: no length credit
    assert writing_gold("what is 1 + 2?", "3.") is None  # not a writing prompt: abstains


def test_warm_start_sentences_leave_the_gold_reward_room():
    rng = random.Random(0)
    golds = [writing_gold(f"write about {a} and {b}.", writing.sample_response(rng, a, b))
             for a, b in (writing.topic_pair(rng) for _ in range(500))]
    assert 0.5 < sum(golds) / len(golds) < 0.8 and max(golds) > 0.95 and min(golds) < 0.3


def test_arithmetic_split_is_fixed_and_disjoint():
    held_out, training = set(arithmetic.problems(True)), set(arithmetic.problems(False))
    assert not held_out & training and len(held_out) + len(training) == 100 * 100
    assert 800 < len(held_out) < 1200  # about a tenth
    assert arithmetic.rows(True, 3, seed=0) == arithmetic.rows(True, 3, seed=0)
    row = arithmetic.rows(False, 1, seed=5)[0]
    a, b = (int(x) for x in row["prompt"].removeprefix("what is ").removesuffix("?").split(" + "))
    assert row["answer"] == str(a + b) and not arithmetic.is_held_out(a, b)
    with pytest.raises(ValueError, match="there are"):
        arithmetic.sample_problems(True, 5000, 0)


def test_arithmetic_data_source_and_guard_prompts(lab_tokenizer):
    from core.data import ARITHMETIC_GUARD_PROBLEMS, load_prompts

    cfg = DataConfig(source="arithmetic", answer_field="answer", toy_train_prompts=40, toy_eval_prompts=16)
    sets = load_prompts(cfg, lab_tokenizer, seed=3, guard="arithmetic")
    assert len(sets.train) == 40 and len(sets.eval) == 16 and len(sets.guard) == ARITHMETIC_GUARD_PROBLEMS
    assert all(p.answer.isdigit() for p in sets.train + sets.eval + sets.guard)
    asked = [p.messages[0]["content"] for p in sets.eval]
    assert asked == [p.messages[0]["content"] for p in load_prompts(cfg, lab_tokenizer, seed=4).eval]  # seed-free test set
    assert not {p.messages[0]["content"] for p in sets.train} & set(asked)


def test_lab_tokenizer_splits_digits_and_decodes_back(lab_tokenizer):
    tokens = lab_tokenizer.tokenize("what is 47 + 38? 85.")
    assert ["4", "7"] == tokens[3:5] and "+" in "".join(tokens) and "<unk>" not in tokens
    ids = lab_tokenizer("what is 47 + 38? 85.", add_special_tokens=False)["input_ids"]
    assert lab_tokenizer.decode(ids) == "what is 47 + 38? 85."


def test_lab_configs_and_their_checks():
    a, b = load_config(f"{LAB}/task_a.yaml"), load_config(f"{LAB}/task_b.yaml")
    assert a.data.source == "arithmetic" and a.evaluation.gold == "exact_match" and a.evaluation.greedy
    assert b.reward.tiny_labels == "writing_gold" and b.evaluation.gold == "writing_gold" and b.stopping.guard == "arithmetic"
    with pytest.raises(ConfigError, match="add arithmetic to model.tiny.skills"):
        load_config(f"{LAB}/task_a.yaml", ["model.tiny.skills=[writing]"])
    with pytest.raises(ConfigError, match="evaluation.gold exact_match compares with a reference answer"):
        load_config(None, ["evaluation.gold=exact_match"])
    with pytest.raises(ConfigError, match="reward.tiny_pairs"):
        load_config(None, ["reward.tiny_pairs=-1"])
    with pytest.raises(ConfigError, match="model.tiny.skills\\[0\\]"):
        load_config(None, ["model.tiny.skills=[poetry]"])


def test_proxy_pairs_are_a_fixed_set_ordered_by_gold():
    from models.tiny_reward import _pair_stream, gold_conversation

    stream = _pair_stream(gold_conversation, seed=0, pairs=8)
    seen = [next(stream) for _ in range(200)]
    assert len({str(p) for p in seen}) <= 8
    assert all(better[1] > worse[1] for better, worse in seen)


def bench_lab():
    """bench/lab.py, a script rather than a package module."""
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    return importlib.import_module("lab")


def test_lab_interval():
    lab = bench_lab()
    mean_interval, paired_differences = lab.mean_interval, lab.paired_differences

    mean, half = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.303 * 1.0 / 3 ** 0.5)
    assert mean_interval([0.5])[0] == 0.5
    sixteen = [float(i % 2) for i in range(16)]  # 16 seeds: Student's t at 15 degrees of freedom, not the normal's
    assert mean_interval(sixteen)[1] == pytest.approx(2.131 * 0.5164 / 4, rel=1e-3)
    baseline = [{"gold": 0.5}, {"gold": 0.25, "gold greedy": 0.5}]
    other = [{"gold": 0.375}, {"gold": 0.5, "gold greedy": 0.25}]
    assert paired_differences(baseline, other, "gold") == [-0.125, 0.25]
    assert paired_differences(baseline, other, "gold greedy") == [None, -0.25]  # the seed without it stays in place
    with pytest.raises(ValueError):  # rows of different seeds cannot pair
        paired_differences(baseline, other[:1], "gold")


def test_lab_curves_pair_each_iteration_by_seed(capsys):
    print_curves = bench_lab().print_curves

    def run(golds: list[float], step_s: float) -> dict:
        return {"iterations": [{"gold": g, "seconds": step_s if i else 0.0} for i, g in enumerate(golds)]}

    results = {"sync": [run([0.5, 0.6, 0.7], 10.0), run([0.5, 0.7, 0.9], 12.0)],
               "async": [run([0.5, 0.5, 0.5], 5.0), run([0.5, 0.8, 0.6, 0.4], 7.0)]}  # a longer run: cut at 3
    print_curves(results, every=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert lines[0] == "| iteration | sync | async | async - sync |"
    assert lines[1].startswith("| 0 | 0.500 ± 0.000 (0 s) | 0.500 ± 0.000 (0 s) | 0.000 ± 0.000")
    # iteration 2: sync 0.7, 0.9 (mean 0.8, sd 0.1 x sqrt 2: half-width t(1) x 0.1 = 1.2706); async 0.5, 0.6
    # (0.55, half 0.635); paired -0.2, -0.3 (-0.25, half 0.635); seconds summed: 20, 24 and 10, 14
    assert lines[2] == "| 2 | 0.800 ± 1.271 (22 s) | 0.550 ± 0.635 (12 s) | -0.250 ± 0.635 |"
    assert len(lines) == 3
