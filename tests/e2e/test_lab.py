"""The alignment lab through launch.py, real Ray, vLLM and DeepSpeed: a short Task A run raises held-out
accuracy on sums it never trained on; a short Task B run records the hidden gold reward beside the proxy's,
and the arithmetic guard on its own prompts. The lab model (warm start 2-4 minutes) is built once, first."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.tiny import WARM_START_FILE

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def launch(preset: str, out: Path, cache_dir: str, *overrides: str) -> dict:
    command = [sys.executable, "launch.py", "--config", f"configs/lab/{preset}.yaml", "--output-dir", str(out),
               f"model.tiny.cache_dir={cache_dir}", *overrides]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def lab_model(tiny_config) -> Path:
    """Task A's and Task B's model (one config, one build), built before either run."""
    from core.config import load_config
    from models.tiny import build_tiny_model

    cfg = load_config(str(ROOT / "configs" / "lab" / "task_a.yaml"), [f"model.tiny.cache_dir={tiny_config.cache_dir}"])
    return build_tiny_model(cfg.model.tiny)


def test_the_warm_start_reaches_its_held_out_level(lab_model):
    report = json.loads((lab_model / WARM_START_FILE).read_text())
    steps, accuracy = report["held_out_greedy_checks"][-1]
    assert report["until_accuracy"] == 0.5 and accuracy >= 0.5 and steps == report["steps"] >= 4000, report


def test_task_a_raises_held_out_accuracy(tmp_path, tiny_config, lab_model):
    # docs/lab.md, "The lab's warm start differs between CPU kinds": how fast Task A learns depends on the build;
    # seed 0's 120 steps raised sampled accuracy by 0.11 on AVX2 and 0.16 on a Xeon (seeds 1-4 there: 0.08-0.13),
    # greedy by 0.02-0.08; the tables' AVX512 build gained more in 20
    summary = launch("task_a", tmp_path, tiny_config.cache_dir, "train.iterations=1", "train.steps_per_iteration=120")
    before, after = summary["iterations"]
    assert before["gold_greedy"] <= 0.7, before  # the warm start knows the sums only partly
    assert before["gold"] == before["eval_reward"]  # exact match is both the reward and the gold metric here
    assert after["gold"] > before["gold"] + 0.05, (before, after)
    assert after["gold_greedy"] > before["gold_greedy"] - 0.05, (before, after)  # no collapse to one answer
    assert (tmp_path / "records" / "eval-greedy-i1.parquet").is_file()


def test_task_b_records_gold_beside_the_proxy(tmp_path, tiny_config, lab_model):
    summary = launch("task_b", tmp_path, tiny_config.cache_dir, "train.iterations=1", "train.steps_per_iteration=5")
    proxy = json.loads((Path(summary["config"]["reward"]["model_path"]) / "proxy.json").read_text())
    assert proxy["pairs"] == 1024 and 0.5 < proxy["agreement_with_gold"] < 1
    for row in summary["iterations"]:
        assert 0 < row["gold"] < 1 and row["gold"] != row["eval_reward"]  # gold is not the proxy's reward
        assert 0 <= row["guard"] <= 1  # greedy accuracy on held-out sums
    assert summary["iterations"][0]["guard"] > 0.2  # the warm start's arithmetic, kept as the guard
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    logged = [m["eval/gold"] for m in metrics if "eval/gold" in m]
    assert logged == pytest.approx([r["gold"] for r in summary["iterations"]], abs=1e-4)
    assert "| gold |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    assert (tmp_path / "records" / "guard-i1.parquet").is_file()
