import pytest

from core.config import RewardConfig
from core.records import Sample
from rewards import build_reward_source
from rewards.function import FunctionReward, length_rule, load_function, regex_rule


def _samples(texts):
    return [Sample(f"s{i}", "p", "<|user|>q</s><|assistant|>", [1], [2], t, [0.0], "stop", 0, 0, 0)
            for i, t in enumerate(texts)]


def test_function_from_a_file_scores_abstains_and_keeps_order(tmp_path):
    (tmp_path / "my_reward.py").write_text(
        "import math\n"
        "def score(prompt, response):\n"
        "    if response == 'skip': return None\n"
        "    if response == 'boom': raise ValueError('cannot judge')\n"
        "    if response == 'nan': return math.nan\n"
        "    return len(response) + (0.5 if prompt.startswith('<|user|>') else 0)\n"
    )
    source = build_reward_source(RewardConfig(kind="function", function=f"{tmp_path}/my_reward.py:score", concurrency=3))
    feedback = source.score(_samples(["a", "skip", "abc", "boom", "nan", "ab"]))
    assert [f.sample_id for f in feedback] == [f"s{i}" for i in range(6)]
    assert [f.value for f in feedback] == [1.5, None, 3.5, None, None, 2.5]
    assert feedback[1].raw == "returned None"
    assert feedback[3].raw == "raised ValueError: cannot judge"
    assert "not a finite number" in feedback[4].raw


def test_function_from_a_module():
    fn = load_function("rewards.letter_share:letter_share")
    assert fn("foo", "o") == pytest.approx(2 / 3)


@pytest.mark.parametrize("spec, message", [
    ("no_colon", "must look like"),
    ("missing/file.py:f", "does not exist"),
    ("rewards.letter_share:nope", "has no function named 'nope'"),
])
def test_bad_function_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        load_function(spec)


def test_regex_and_length_rules():
    assert [regex_rule(r"\bcat\b")("", t) for t in ("a cat here", "concatenate")] == [1.0, 0.0]
    rule = length_rule(4)
    assert [rule("", t) for t in ("a b c d", "a b", "a b c d e f g h i")] == [1.0, 0.5, 0.0]
    feedback = FunctionReward(rule, "length[4]").score(_samples(["one two three four"]))
    assert feedback[0].value == 1.0 and feedback[0].source == "length[4]"


def test_exact_match_compares_with_the_reference_answer():
    samples = _samples(["Paris.", " paris ", "Lyon", "anything"])
    for sample, answer in zip(samples, ["paris", "Paris", "Paris", ""]):
        sample.answer = answer
    feedback = build_reward_source(RewardConfig(kind="exact_match")).score(samples)
    assert [fb.value for fb in feedback] == [1.0, 1.0, 0.0, None]  # no answer: an abstention, not a zero
    assert feedback[0].source == "exact_match"


def test_a_three_argument_function_receives_the_answer():
    samples = _samples(["42"])
    samples[0].answer = "42"
    reward = FunctionReward(lambda prompt, response, answer: float(response == answer), "f")
    assert reward.score(samples)[0].value == 1.0


def test_a_call_past_the_timeout_stops_scoring_with_an_error_naming_the_function():
    import time

    from rewards.function import RewardTimeout

    def slow_on_b(prompt, response):
        if response == "b":
            time.sleep(3)
        return 1.0

    source = FunctionReward(slow_on_b, "my_module:slow_on_b", concurrency=2, timeout_s=0.4)
    assert [f.value for f in source.score(_samples(["a", "a"]))] == [1.0, 1.0]  # fast calls are unaffected
    started = time.perf_counter()
    with pytest.raises(RewardTimeout, match=r"reward function my_module:slow_on_b took more than "
                                            r"reward.timeout_s=0.4 s on sample s1; make it faster"):
        source.score(_samples(["a", "b", "a"]))
    assert time.perf_counter() - started < 2  # did not wait for the slow call to end
