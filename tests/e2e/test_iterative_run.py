"""Iterative mode through the real actors: a whole iteration is sampled by one policy, then trained on."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_iterative_mode_pushes_once_per_iteration(tmp_path, tiny_config):
    import datasets

    command = [sys.executable, "launch.py", "--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}",
               "train.mode=iterative", "train.iterative_epochs=2", "train.iterations=2", "train.steps_per_iteration=3",
               "train.reference_refresh=every_iteration", "data.toy_eval_prompts=8"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    records = datasets.load_dataset("parquet", data_files=str(tmp_path / "records" / "train-*.parquet"), split="train")
    versions = {(r["iteration"], r["policy_version"]) for r in records}
    assert versions == {(1, 0), (2, 1)}  # iteration 2 sampled only by the policy trained on iteration 1
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    updates = [r for r in rows if "learn/loss" in r]
    assert len(updates) == 2 * 3 * 2  # iterations x steps x epochs
    assert [r["learn/policy_version"] for r in updates] == [0] * 6 + [1] * 6
