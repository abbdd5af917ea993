"""Iterative mode through the real actors, and exact resume after the driver is killed mid-iteration."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ITERATIONS, STEPS, PROMPTS, SAMPLES, EVAL_PROMPTS = 2, 3, 16, 4, 8
pytestmark = pytest.mark.slow


def _command(out: Path, tiny_config) -> list[str]:
    return [sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={tiny_config.cache_dir}",
            "train.mode=iterative", "train.iterative_epochs=2", f"train.iterations={ITERATIONS}",
            f"train.steps_per_iteration={STEPS}", "train.reference_refresh=every_iteration",
            f"data.toy_eval_prompts={EVAL_PROMPTS}"]


def _records(out: Path, pattern: str = "*.parquet"):
    import datasets

    return datasets.load_dataset("parquet", data_files=str(out / "records" / pattern), split="train")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_config) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    run = subprocess.run(_command(out, tiny_config), cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return out


def test_iterative_mode_pushes_once_per_iteration(uninterrupted):
    versions = {(r["iteration"], r["policy_version"]) for r in _records(uninterrupted, "train-*.parquet")}
    assert versions == {(1, 0), (2, 1)}  # iteration 2 sampled only by the policy trained on iteration 1
    rows = [json.loads(line) for line in (uninterrupted / "metrics.jsonl").read_text().splitlines()]
    updates = [r for r in rows if "learn/loss" in r]
    assert len(updates) == ITERATIONS * STEPS * 2  # iterations x steps x epochs
    assert [r["learn/policy_version"] for r in updates] == [0] * 6 + [1] * 6


def test_killed_mid_iteration_then_resumed_records_every_sample_once_and_matches(uninterrupted, tmp_path, tiny_config):
    out = tmp_path / "run"
    driver = subprocess.Popen(_command(out, tiny_config), cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:  # wait until iteration 1 is checkpointed and iteration 2 has recorded a step, then kill
        deadline = time.time() + 600
        while not (out / "records" / "train-i2-s1.parquet").exists():
            assert driver.poll() is None and time.time() < deadline, "the run ended before it could be killed"
            time.sleep(0.2)
    finally:  # SIGKILL the driver and every process of its session (the Ray instance it started)
        _kill_session(driver.pid)
    assert (out / "checkpoints" / "iteration-1").is_dir() and not (out / "checkpoints" / "iteration-2").exists()

    resumed = subprocess.run(_command(out, tiny_config), cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resuming from" in resumed.stderr and "iteration-1" in resumed.stderr

    records = _records(out)
    ids = records["sample_id"]
    assert len(ids) == len(set(ids)) == (ITERATIONS * STEPS * PROMPTS + (ITERATIONS + 1) * EVAL_PROMPTS) * SAMPLES
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "train/samples" in r] == list(range(1, ITERATIONS * STEPS + 1))
    assert [r["iteration"] for r in rows if "eval/reward_mean" in r] == list(range(ITERATIONS + 1))
    summary = json.loads((out / "summary.json").read_text())
    assert [r["iteration"] for r in summary["iterations"]] == list(range(ITERATIONS + 1))

    # exact: the resumed run sampled, scored and trained exactly as the run that was never killed
    expected = {r["sample_id"]: r for r in _records(uninterrupted)}
    for row in records:
        twin = expected[row["sample_id"]]
        assert row["response_token_ids"] == twin["response_token_ids"], row["sample_id"]
        assert row["reward"] == pytest.approx(twin["reward"])
        assert row["behaviour_logprobs"] == pytest.approx(twin["behaviour_logprobs"], abs=1e-4)


def _kill_session(session_id: int) -> None:
    listed = subprocess.run(["ps", "-o", "pid=", "-s", str(session_id)], capture_output=True, text=True).stdout
    for pid in [session_id] + [int(p) for p in listed.split() if int(p) != session_id]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(2)
