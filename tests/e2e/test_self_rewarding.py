"""The self-rewarding preset through the real actors: the policy's own vLLM engine judges its samples."""

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
