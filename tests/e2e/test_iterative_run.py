"""Iterative mode through the real actors, and exact resume after the driver is killed mid-iteration."""

import json
import sys
from pathlib import Path

import pytest
from resume_check import assert_resume_matches, kill_in_iteration_2, records, run_to_end

ITERATIONS, STEPS, PROMPTS, SAMPLES, EVAL_PROMPTS = 2, 3, 16, 4, 8
pytestmark = pytest.mark.slow


def _command(out: Path, tiny_config) -> list[str]:
    return [sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={tiny_config.cache_dir}",
            "train.mode=iterative", "train.iterative_epochs=2", f"train.iterations={ITERATIONS}",
            f"train.steps_per_iteration={STEPS}", "train.reference_refresh=every_iteration",
            f"data.toy_eval_prompts={EVAL_PROMPTS}"]


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


def test_killed_mid_iteration_then_resumed_records_every_sample_once_and_matches(uninterrupted, tmp_path, tiny_config):
    out = tmp_path / "run"
    kill_in_iteration_2(_command(out, tiny_config), out)
    assert_resume_matches(_command(out, tiny_config), out, uninterrupted, ITERATIONS, STEPS,
                          (ITERATIONS * STEPS * PROMPTS + (ITERATIONS + 1) * EVAL_PROMPTS) * SAMPLES)
