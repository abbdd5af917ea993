import math

from core.config import StoppingConfig
from loop.stopping import Evaluated, kl_budget, plateau, should_stop


def _history(rewards, kls=None):
    kls = kls or [0.0] * len(rewards)
    return [Evaluated(i, r, k) for i, (r, k) in enumerate(zip(rewards, kls))]


def test_plateau_waits_for_patience_iterations():
    assert plateau(_history([0.1, 0.3, 0.3]), patience=1, min_delta=0.0) is not None  # 0.3 does not beat 0.3
    assert plateau(_history([0.1, 0.3, 0.31]), patience=1, min_delta=0.0) is None
    assert plateau(_history([0.1, 0.3, 0.31]), patience=1, min_delta=0.05) is not None  # +0.01 is below min_delta
    assert plateau(_history([0.1, 0.3, 0.2, 0.25]), patience=2, min_delta=0.0) is not None
    assert plateau(_history([0.1, 0.3, 0.2, 0.35]), patience=2, min_delta=0.0) is None
    assert plateau(_history([0.1, 0.1]), patience=2, min_delta=0.0) is None  # not enough history yet
    assert plateau(_history([0.1, 0.1, 0.1]), patience=0, min_delta=0.0) is None  # off


def test_plateau_message_names_the_numbers():
    message = plateau(_history([0.1, 0.3, 0.25]), patience=1, min_delta=0.01)
    assert "0.2500" in message and "0.3000" in message and "stopping.min_delta=0.01" in message


def test_kl_budget():
    assert kl_budget(_history([0.1, 0.2], [0.0, 12.5]), max_kl=10.0) == (
        "KL to the initial policy 12.500 exceeds stopping.max_kl=10.0")
    assert kl_budget(_history([0.1, 0.2], [0.0, 9.0]), max_kl=10.0) is None
    assert kl_budget(_history([0.1, 0.2], [0.0, 99.0]), max_kl=0.0) is None


def test_first_check_that_fires_wins():
    history = _history([0.1, 0.3, 0.3], [0.0, 5.0, 50.0])
    assert should_stop(history, StoppingConfig(patience=1, max_kl=10.0))[0] == "kl_budget"
    assert should_stop(history, StoppingConfig(patience=1))[0] == "plateau"
    assert should_stop(history, StoppingConfig()) is None


def test_win_rate_counts_ties_as_half():
    from loop.evaluate import win_rate

    new = {"a": [0.5, 0.9], "b": [0.2]}
    old = {"a": [0.5], "b": [0.1, 0.3], "c": [1.0]}
    # a: 0.5 vs 0.5 tie (0.5), 0.9 vs 0.5 win (1); b: 0.2 vs 0.1 win, 0.2 vs 0.3 loss; c has no new samples
    assert win_rate(new, old) == (0.5 + 1 + 1 + 0) / 4
    assert math.isnan(win_rate({"a": [1.0]}, {"b": [0.0]}))  # no prompt on both sides


def test_low_win_rate_fires_below_the_threshold():
    history = [Evaluated(0, 0.1, 0.0), Evaluated(1, 0.2, 1.0, 0.4)]
    assert should_stop(history, StoppingConfig(min_win_rate=0.45)) == (
        "low_win_rate", "win rate against the previous iteration 0.400 is below stopping.min_win_rate=0.45")
    assert should_stop(history, StoppingConfig(min_win_rate=0.3)) is None


def test_guard_regression_fires_beyond_the_tolerance_and_names_the_numbers():
    from loop.stopping import guard_regressed

    history = [Evaluated(0, 0.1, 0.0, guard=0.9), Evaluated(1, 0.3, 5.0, 0.6, guard=0.8)]
    assert guard_regressed(history, 0.15) is None  # fell 0.1: within the tolerance
    history.append(Evaluated(2, 0.5, 9.0, 0.6, guard=0.7))
    assert guard_regressed(history, 0.15) == ("guard metric 0.7000 fell more than stopping.max_guard_drop=0.15 "
                                              "below its value before training, 0.9000")
    assert guard_regressed(history, 0.0) is None  # 0 turns it off
    assert should_stop(history, StoppingConfig(max_guard_drop=0.15, max_kl=1.0))[0] == "guard_regressed"
