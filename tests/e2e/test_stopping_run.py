"""Real runs that stop before their iteration limit: a plateau (no gain can count: stopping.min_delta is
larger than the reward's whole range; run with --verbose), a time budget, a reward that always abstains, SIGTERM."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from terminal import third_party_warnings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_run_stops_on_plateau_and_says_why(tmp_path, tiny_config):
    command = [sys.executable, "launch.py", "--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}",
               "train.iterations=4", "train.steps_per_iteration=2", "stopping.min_delta=10", "stopping.patience=1",
               "data.toy_eval_prompts=8", "--verbose"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stop_reason"] == "plateau"
    assert "did not beat the earlier best" in summary["stop_detail"]
    assert [row["iteration"] for row in summary["iterations"]] == [0, 1]
    assert "stopped: plateau" in run.stdout
    assert "Stopped: **plateau**" in (tmp_path / "report.md").read_text()
    shown = third_party_warnings(run.stdout + run.stderr)  # --verbose: the libraries' warnings too
    assert any("vllm" in line.lower() for line in shown), shown


def test_run_stops_at_its_time_budget_mid_iteration(tmp_path, tiny_config):
    command = [sys.executable, "launch.py", "--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}",
               "train.iterations=4", "train.steps_per_iteration=200", "stopping.max_seconds=4", "data.toy_eval_prompts=8"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stop_reason"] == "time_budget" and "stopping.max_seconds=4" in summary["stop_detail"]
    assert [row["iteration"] for row in summary["iterations"]] == [0, 1]  # iteration 1 ended early, evaluated
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert 1 <= max(steps) < 200
    assert (tmp_path / "checkpoints" / "iteration-1" / "config.json").is_file()


def test_a_reward_that_always_abstains_stops_the_run_with_an_error(tmp_path, tiny_config):
    reward = tmp_path / "abstain.py"
    reward.write_text("def never(prompt, response):\n    return None\n")
    out = tmp_path / "run"
    command = [sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={tiny_config.cache_dir}",
               "train.iterations=3", "train.steps_per_iteration=2", "data.toy_eval_prompts=8",
               "reward.kind=function", f"reward.function={reward}:never"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 1, run.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"] == "no_learning_signal" and "check the reward source" in summary["stop_detail"]
    assert "reasons given for abstaining: " in summary["stop_detail"]
    assert "abstain.py:never: returned None" in summary["stop_detail"]
    assert [row["iteration"] for row in summary["iterations"]] == [0]


def test_sigterm_ends_the_run_like_ctrl_c_with_its_summary(tmp_path, tiny_config):
    import signal
    import time

    command = [sys.executable, "launch.py", "--output-dir", str(tmp_path), f"model.tiny.cache_dir={tiny_config.cache_dir}",
               "train.iterations=4", "train.steps_per_iteration=500", "data.toy_eval_prompts=8"]
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline and (not metrics.is_file() or metrics.read_text().count("train/") < 3):
        time.sleep(1)
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=300) != 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stop_reason"] == "interrupted" and summary["stop_detail"] == "stopped by SIGTERM"
    assert [row["iteration"] for row in summary["iterations"]] == [0]  # the evaluation before training
    assert summary["peak_memory_mb"] == {}  # not asked: an actor may still be in its call, and the stop would wait
    assert "Stopped: **interrupted**" in (tmp_path / "report.md").read_text()
    assert f"run the same command with --output-dir {tmp_path}" in log.read_text()  # how to go on
