"""Self-rewarding through the real actors: the policy's own vLLM engine judges its samples, and, in the lab's
preset, every evaluation measures the policy as a judge on gold-labelled pairs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_self_rewarding_iterations_judge_pair_and_train(tmp_path, tiny_config):
    import datasets

    command = [sys.executable, "launch.py", "--config", "configs/self_rewarding.yaml", "--output-dir", str(tmp_path),
               f"model.tiny.cache_dir={tiny_config.cache_dir}", "train.iterations=2", "train.steps_per_iteration=2",
               "data.toy_eval_prompts=8"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    records = datasets.load_dataset("parquet", data_files=str(tmp_path / "records" / "train-*.parquet"), split="train")
    assert set(records["reward_source"]) == {"self_judge"}
    assert all(raw.startswith("P(score 0..5) = ") for raw in records["feedback_raw"])
    assert all(0.0 <= r <= 5.0 for r in records["reward"])
    # iteration 2 was sampled and judged by the policy trained on iteration 1
    assert {(r["iteration"], r["policy_version"]) for r in records} == {(1, 0), (2, 1)}
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("learn/pair_accuracy" in r for r in rows)  # DPO updates on best-vs-worst pairs happened


def test_lab_self_rewarding_measures_the_judge_at_every_iteration(tmp_path, tiny_config):
    """The lab model with the judging skill (a short warm start, so it judges a little) judges itself."""
    command = [sys.executable, "launch.py", "--config", "configs/lab/self_rewarding.yaml", "--output-dir", str(tmp_path),
               f"model.tiny.cache_dir={tiny_config.cache_dir}", "model.tiny.sft_steps=200",
               "model.tiny.sft_until_judge_agreement=0", "train.iterations=2", "train.steps_per_iteration=2",
               "data.toy_eval_prompts=8"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    warm_start = json.loads((Path(summary["model_path"]) / "warm_start.json").read_text())
    assert warm_start["judge"]["pairwise"]["pairs"] == 256 and 0 <= warm_start["judge"]["direct"]["agreement"] <= 1
    rows = summary["iterations"]
    assert [row["iteration"] for row in rows] == [0, 1, 2]
    for row in rows:  # the direct judge scores each response alone: no positions to swap
        assert 0 <= row["judge_agreement"] <= 1 and 0 <= row["judge_length_preference"] <= 1
        assert row["judge_position_consistency"] is None
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sum("eval/judge_agreement" in r for r in metrics) == 3
    assert "| iteration | agreement | position consistency | length preference |" in (tmp_path / "report.md").read_text()
