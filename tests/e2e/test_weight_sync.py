"""A weight push through real Ray actors: the vLLM engine then computes exactly the learner's log-probs."""

import os
import time

import pytest

pytestmark = pytest.mark.slow


def _max_diff(a, b):
    return max(abs(x - y) for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b))


def test_engine_matches_learner_after_a_shared_memory_push_and_generation_changes(ray_local, tiny_model_path, tokenizer):
    """The ray transport is checked the same way (train.verify_sync) by tests/e2e/test_two_node_cluster.py."""
    from actors.rollout import RolloutEngine
    from core.config import AlgorithmConfig, DataConfig, LearnerConfig, RolloutConfig
    from core.data import load_prompts
    from core.records import Signal
    from learner.engine import PolicyLearner
    from learner.objectives import LearnerBatch
    from rewards.letter_share import letter_share

    ray = ray_local
    prompts = load_prompts(DataConfig(toy_train_prompts=4, toy_eval_prompts=1), tokenizer, seed=0).train
    rollout = ray.remote(num_cpus=0)(RolloutEngine).remote(tiny_model_path, RolloutConfig(max_new_tokens=16), "float32", 128, 0,
                                                           weight_transport="shm")
    learner = ray.remote(num_cpus=0)(PolicyLearner).remote(tiny_model_path, LearnerConfig(lr=1e-2, micro_batch_size=8,
                                                                                          compute_dtype="float32"),
                                                           AlgorithmConfig(beta=1.0), 16, 0, bucket_mb=1)

    before = ray.get(rollout.generate.remote(prompts, 4, 7, 1, 1))
    engine_before = ray.get(rollout.score.remote(before))
    learner_before = ray.get(learner.sequence_logprobs.remote(before))
    assert _max_diff(engine_before, learner_before) < 1e-4
    assert _max_diff([s.behaviour_logprobs for s in before], learner_before) < 1e-4

    targets = [1.0 if letter_share(s.response_text, "o") > 0.15 else 0.0 for s in before]
    for _ in range(3):
        ray.get(learner.train_step.remote(LearnerBatch(before, learner_before, Signal("scores", scores=targets))))
    # through vLLM's weight-transfer API, from one file in shared memory
    update = ray.get(learner.write_shared_weights.remote())
    assert os.path.getsize(update["path"]) == update["total"] >= 4 * 350_000
    ray.get(rollout.load_shared_weights.remote(update, 1))

    engine_after = ray.get(rollout.score.remote(before))
    learner_after = ray.get(learner.sequence_logprobs.remote(before))
    assert _max_diff(engine_after, learner_before) > 0.05  # the update moved the policy ...
    assert _max_diff(engine_after, learner_after) < 1e-4  # ... and the engine holds exactly the learner's weights

    after = ray.get(rollout.generate.remote(prompts, 4, 7, 1, 2))
    assert {s.policy_version for s in after} == {1}
    assert [s.response_token_ids for s in after] != [s.response_token_ids for s in before]
    # a learner killed without its clean-up leaves its file; the next one removes it
    from learner.shm_weights import remove_stale_files

    ray.kill(learner, no_restart=True)
    deadline = time.time() + 30
    while os.path.exists(update["path"]) and time.time() < deadline:
        remove_stale_files()  # removes it once the killed process is gone
        time.sleep(0.2)
    assert not os.path.exists(update["path"])
