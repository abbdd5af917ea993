"""The RLAIF preset through the real actors: a separate judge model on its own vLLM actor gives pairwise
feedback (both orders, averaged) to online UNA."""

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_rlaif_pairwise_judge_on_its_own_actor_feeds_online_una(tmp_path, tiny_config):
    import datasets

    command = [sys.executable, "launch.py", "--config", "configs/rlaif.yaml", "--output-dir", str(tmp_path),
               f"model.tiny.cache_dir={tiny_config.cache_dir}", "train.iterations=1", "train.steps_per_iteration=2",
               "train.prompts_per_step=8", "data.toy_eval_prompts=4", "evaluation.judge_pairs=writing_gold"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["peak_memory_mb"]["judge"] > 0  # the judge ran in an actor of its own
    assert summary["config"]["reward"]["judge"]["model_path"] != summary["model_path"]  # a different model

    records = datasets.load_dataset("parquet", data_files=str(tmp_path / "records" / "train-*.parquet"), split="train")
    assert len(records) == 2 * 8 * 4 and set(records["reward_source"]) == {"llm_judge"}
    by_prompt = defaultdict(list)
    for row in records:
        by_prompt[(row["step"], row["prompt_id"])].append(row)
    for rows in by_prompt.values():
        # each sample met the 3 others, both orders each; the two sides of a comparison sum to 1
        assert all(row["feedback_raw"].count("as response 1:") == 3 for row in rows)
        assert sum(row["reward"] for row in rows) == pytest.approx(len(rows) * 3 / 2 / 3)
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert sum("learn/loss" in row or "train/loss" in row for row in metrics) == 2  # one UNA update per step
    # the judge measured on the lab's labelled pairs, in both orders (160 pairs: agreement and consistency are
    # multiples of 1/128 and 1/160)
    for row in summary["iterations"]:
        assert round(row["judge_agreement"] * 256) == pytest.approx(row["judge_agreement"] * 256, abs=0.03)
        assert round(row["judge_position_consistency"] * 160) == pytest.approx(row["judge_position_consistency"] * 160,
                                                                               abs=0.03)
