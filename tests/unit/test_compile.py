"""learner.compile: the compiled learner and reference compute what the eager ones do (learner/compile.py)."""

import random

import pytest
import torch

from core.config import AlgorithmConfig, LearnerConfig
from core.records import Signal
from learner.objectives import LearnerBatch


def _step(model_path, samples, rewards, compile):
    """One learner (default token budget and shared-prompt rows, holding the reference): the reference's and the
    policy's log-probs, one update, the weights after it."""
    from torch._dynamo.utils import counters

    from learner.engine import PolicyLearner

    counters.clear()
    learner = PolicyLearner(model_path, LearnerConfig(compile=compile, compute_dtype="float32"), AlgorithmConfig(), 8, seed=0,
                            holds_reference=True)
    compiled = [learner.engine.module._compiled_call_impl, learner.reference.model._compiled_call_impl]
    assert all(compiled) if compile else not any(compiled)
    reference = learner.score(samples)
    stats = learner.train_step(LearnerBatch(samples, reference, Signal("scores", scores=rewards)))
    # graphs dynamo really compiled: without any, the models would have run eager and matched trivially
    assert (counters["stats"]["unique_graphs"] > 0) == compile
    return reference, stats, learner._full_state_dict(), learner.sequence_logprobs(samples)


@pytest.mark.slow  # inductor builds its C++ kernels: 13-60 s on 2 cores (a cold cache the longest)
def test_a_compiled_learner_scores_and_steps_as_the_eager_one(tiny_model_path, random_samples):
    samples = random_samples(8, random.Random(0))
    rewards = [0.1, 0.4, 0.3, 0.9, 0.8, 0.2, 0.2, 0.6]
    eager, compiled = (_step(tiny_model_path, samples, rewards, compile) for compile in (False, True))
    for before, after in ((eager[0], compiled[0]), (eager[3], compiled[3])):  # the reference's, the updated policy's
        for row, compiled_row in zip(before, after):
            assert compiled_row == pytest.approx(row, abs=1e-5)
    assert compiled[1].loss == pytest.approx(eager[1].loss, rel=1e-5)
    assert compiled[1].grad_norm == pytest.approx(eager[1].grad_norm, rel=1e-4)
    assert compiled[2].keys() == eager[2].keys()  # the same names: pushes and checkpoints see the same model
    for name, weight in eager[2].items():
        assert torch.allclose(compiled[2][name], weight, atol=1e-5), name
