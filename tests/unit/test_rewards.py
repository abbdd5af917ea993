import pytest

from core.records import Sample
from rewards.letter_share import LetterShareReward, letter_share
from rewards.normalize import score_targets


def test_letter_share_counts_letters_only():
    assert letter_share("foo", "o") == pytest.approx(2 / 3)
    assert letter_share("O o! 12", "o") == 1.0  # case-insensitive; digits, spaces, punctuation ignored
    assert letter_share("", "o") == 0.0
    assert letter_share("...", "o") == 0.0


def test_reward_source_answers_every_sample_in_order():
    samples = [Sample(f"id{i}", "p", "", [1], [2], text, [0.0], "stop", 0, 0, 0) for i, text in enumerate(["oo", "ab"])]
    feedback = LetterShareReward("o").score(samples)
    assert [(f.sample_id, f.value, f.kind) for f in feedback] == [("id0", 1.0, "score"), ("id1", 0.0, "score")]


def test_bad_target_letter():
    with pytest.raises(ValueError, match="reward.target_letter"):
        LetterShareReward("oo")


def test_prompt_minmax_per_prompt_and_ties():
    raw = [0.1, 0.3, 0.2, 0.5, 0.5]
    ids = ["a", "a", "a", "b", "b"]
    assert score_targets(raw, ids, "prompt_minmax") == pytest.approx([0.0, 1.0, 0.5, 0.5, 0.5])


def test_batch_sigmoid_and_raw():
    # mean 0.5, population std 0.5: z-scores -1 and +1
    assert score_targets([0.0, 1.0], ["a", "b"], "batch_sigmoid") == pytest.approx([0.268941, 0.731059], abs=1e-5)
    assert score_targets([-0.5, 0.25, 2.0], ["a"] * 3, "raw") == [0.0, 0.25, 1.0]
