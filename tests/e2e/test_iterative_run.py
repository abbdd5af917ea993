"""Iterative mode through the real actors, and exact resume after the driver is killed mid-iteration. The policy
is a LoRA one, served merged (model.lora.serve merged: pushes send the merged weights to plain engines), with a
separate reference (a copy held by learner rank 0, learner.reference_engine learner) refreshed every iteration
(the merged policy's weights), and so a KL-to-initial scorer actor; these share the runs to keep the suite
short, and exact resume then covers LoRA's state and its moving reference too."""

import json
import sys
from pathlib import Path

import pytest
from resume_check import assert_resume_matches, kill_in_iteration_2, records, run_to_end

ITERATIONS, STEPS, PROMPTS, SAMPLES, EVAL_PROMPTS = 2, 3, 16, 4, 8
pytestmark = pytest.mark.slow


def _command(out: Path, tiny_config) -> list[str]:
    """Through the installed command (launch.py's cli), which the other runs reach as launch.py."""
    return [str(Path(sys.executable).parent / "una-align"), "run", "--output-dir", str(out),
            f"model.tiny.cache_dir={tiny_config.cache_dir}",
            "train.mode=iterative", "train.iterative_epochs=2", f"train.iterations={ITERATIONS}",
            f"train.steps_per_iteration={STEPS}", "train.reference_refresh=every_iteration",
            f"data.toy_eval_prompts={EVAL_PROMPTS}", "model.lora.enabled=true", "model.lora.reference=separate",
            "model.lora.serve=merged", "train.verify_sync=true",
            # float32 everywhere: the checks below are float32's (auto is bfloat16 on CPUs with bfloat16 units)
            "learner.compute_dtype=float32", "model.dtype=float32"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_config) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    return run_to_end(_command(out, tiny_config), out)


def test_iterative_mode_pushes_once_per_iteration(uninterrupted):
    versions = {(r["iteration"], r["policy_version"]) for r in records(uninterrupted, "train-*.parquet")}
    assert versions == {(1, 0), (2, 1)}  # iteration 2 sampled only by the policy trained on iteration 1
    rows = [json.loads(line) for line in (uninterrupted / "metrics.jsonl").read_text().splitlines()]
    updates = [r for r in rows if "learn/loss" in r]
    assert len(updates) == ITERATIONS * STEPS * 2  # iterations x steps x epochs
    assert [r["learn/policy_version"] for r in updates] == [0] * 6 + [1] * 6


def test_the_refreshed_reference_and_the_engines_hold_the_merged_policy(uninterrupted):
    """Iteration 2 was sampled by policy version 1, and the reference took that policy's merged weights after
    iteration 1: the reference's log-probs are the generator's. The push itself was checked (train.verify_sync)."""
    rows = [json.loads(line) for line in (uninterrupted / "metrics.jsonl").read_text().splitlines()]
    assert [r["learn/sync_max_logprob_diff"] < 1e-3 for r in rows if "learn/sync_max_logprob_diff" in r] == [True] * 2
    second = list(records(uninterrupted, "train-i2-*.parquet"))
    assert second
    diffs = [abs(a - b) for r in second for a, b in zip(r["reference_logprobs"], r["behaviour_logprobs"])]
    assert max(diffs) < 1e-3
    first = list(records(uninterrupted, "train-i1-*.parquet"))
    assert max(abs(a - b) for r in first for a, b in zip(r["reference_logprobs"], r["behaviour_logprobs"])) < 1e-3


def test_killed_mid_iteration_then_resumed_records_every_sample_once_and_matches(uninterrupted, tmp_path, tiny_config):
    out = tmp_path / "run"
    kill_in_iteration_2(_command(out, tiny_config), out)
    assert_resume_matches(_command(out, tiny_config), out, uninterrupted, ITERATIONS, STEPS,
                          (ITERATIONS * STEPS * PROMPTS + (ITERATIONS + 1) * EVAL_PROMPTS) * SAMPLES)
