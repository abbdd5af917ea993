"""The algorithm registry: every configured algorithm has one entry, and a new one is one file plus one
line: the docs' worked example (docs/algorithms.md), read from the page itself and registered here, is accepted by the
config and trained by the learner."""

import random
import re
from pathlib import Path

import pytest

from core.config import AlgorithmConfig, ConfigError, LearnerConfig, load_config
from learner import algorithms
from learner.objectives import LearnerBatch

PAGE = Path(__file__).resolve().parents[2] / "docs" / "algorithms.md"


def _docs_example() -> dict:
    """The code block of the page's "Adding an algorithm" example, run as the module it describes."""
    block = re.search(r"```python\n# learner/algorithms/hinge.py\n(.*?)```", PAGE.read_text(), re.S)
    assert block, "docs/algorithms.md's worked example (learner/algorithms/hinge.py) is missing"
    namespace: dict = {"__name__": "learner.algorithms.hinge"}
    exec(compile(block.group(1), "docs/algorithms.md: learner/algorithms/hinge.py", "exec"), namespace)
    return namespace


HINGE = _docs_example()["HINGE"]


@pytest.fixture
def with_hinge(monkeypatch):
    monkeypatch.setattr(algorithms, "REGISTRY", [*algorithms.REGISTRY, HINGE])


def test_every_algorithm_and_feedback_form_has_one_entry():
    forms = [(entry.name, entry.feedback) for entry in algorithms.REGISTRY]
    assert len(forms) == len(set(forms))
    assert algorithms.names() == ["dpo", "grpo", "ipo", "kto", "ppo", "rdpo", "rloo", "simpo", "una"]
    for feedback in ("score", "binary", "pairwise"):
        assert algorithms.lookup(AlgorithmConfig(feedback=feedback)).feedback == feedback
    assert algorithms.lookup(AlgorithmConfig(name="ppo", feedback="binary")).name == "ppo"  # feedback is UNA's


def test_an_unregistered_name_is_a_config_error_listing_the_registered_ones():
    with pytest.raises(ConfigError, match="algorithm.name 'hinge' is not registered; choose one of .*'dpo'"):
        load_config(None, ["algorithm.name=hinge"])


def test_what_an_entry_needs_of_the_config_is_checked_from_the_entry(with_hinge):
    assert load_config(None, ["algorithm.name=hinge"]).algorithm.name == "hinge"
    with pytest.raises(ConfigError, match="hinge compares the samples of a prompt"):
        load_config(None, ["algorithm.name=hinge", "rollout.samples_per_prompt=1"])
    with pytest.raises(ConfigError, match="algorithm.beta must be positive for hinge"):
        load_config(None, ["algorithm.name=hinge", "algorithm.beta=0"])
    with pytest.raises(ConfigError, match="learner.merging works with the single-update algorithms .not ppo"):
        load_config(None, ["algorithm.name=ppo", "learner.merging=onties"])
    load_config(None, ["algorithm.name=grpo", "algorithm.beta=0"])  # GRPO's loss has no beta


def test_a_registered_toy_algorithm_trains_through_the_learner(with_hinge, tiny_model_path, random_samples):
    from learner.engine import PolicyLearner

    samples = random_samples(8, random.Random(0))
    rewards = [0.1, 0.4, 0.3, 0.9, 0.8, 0.2, 0.2, 0.6]
    cfg = AlgorithmConfig(name="hinge", beta=0.1)
    learner = PolicyLearner(tiny_model_path, LearnerConfig(lr=3e-3, micro_batch_size=4), cfg, 8, seed=0)
    reference = learner.sequence_logprobs(samples)
    signal = algorithms.lookup(cfg).signal(cfg, samples, rewards, rewards)
    assert signal.pairs == [(3, 0), (4, 5)]  # best against worst of each prompt
    batch = LearnerBatch(samples, reference, signal)
    losses = [learner.train_step(batch).loss for _ in range(5)]
    assert losses[-1] < losses[0] == pytest.approx(1.0)  # hinge at margin 0: 1 per pair, normalised by pairs
    moved = [sum(a) - sum(r) for a, r in zip(learner.sequence_logprobs(samples), reference)]
    assert all(moved[chosen] > moved[rejected] for chosen, rejected in signal.pairs)


def test_update_statistics_over_ranks_sum_the_shares_and_average_the_details():
    from core.records import UpdateStats

    ranks = [UpdateStats(0.25, 2.0, 0, {"pair_accuracy": 1.0}, {"value_loss": 0.5}),
             UpdateStats(0.5, 2.0, 1, {"pair_accuracy": 0.5}, {"value_loss": 0.25})]
    combined = UpdateStats.over_ranks(ranks)
    assert (combined.loss, combined.grad_norm, combined.nonfinite_microbatches) == (0.75, 2.0, 1)
    assert combined.details == {"pair_accuracy": 0.75} and combined.shares == {"value_loss": 0.75}
    assert combined.metrics() == {"loss": 0.75, "grad_norm": 2.0, "nonfinite_microbatches": 1.0,
                                  "pair_accuracy": 0.75, "value_loss": 0.75}
    # a rank that got no samples (fewer units than ranks) reports no details: the others' are averaged
    with_empty = UpdateStats.over_ranks(ranks[:1] + [UpdateStats(0.0, 2.0, 0, {}, {})])
    assert with_empty.details == {"pair_accuracy": 1.0} and with_empty.shares == {"value_loss": 0.5}
