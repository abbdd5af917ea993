"""Kill-and-resume, shared by the end-to-end tests of each loop mode: a run's driver is killed mid-iteration 2
(after iteration 1's checkpoint), re-run on the same folder, and must match a run that was never killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def records(out: Path, pattern: str = "*.parquet"):
    import datasets

    return datasets.load_dataset("parquet", data_files=str(out / "records" / pattern), split="train")


def run_to_end(command: list[str], out: Path) -> Path:
    """The run that is never killed, to compare the resumed one with."""
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return out


def kill_in_iteration_2(command: list[str], out: Path) -> None:
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:  # wait until iteration 1 is checkpointed and iteration 2 has recorded a step, then kill
        deadline = time.time() + 600
        while not (out / "records" / "train-i2-s1.parquet").exists():
            assert driver.poll() is None and time.time() < deadline, "the run ended before it could be killed"
            time.sleep(0.2)
    finally:  # SIGKILL the driver and every process of its session; Ray then ends the actors it owned
        _kill_session(driver.pid)
    assert (out / "checkpoints" / "iteration-1").is_dir() and not (out / "checkpoints" / "iteration-2").exists()


def assert_resume_matches(command: list[str], out: Path, uninterrupted: Path, iterations: int, steps: int,
                          samples_expected: int) -> None:
    """Re-run the killed run: every sample recorded once, and sampled, scored and trained exactly as in the
    run that was never killed."""
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resuming from" in resumed.stderr and "iteration-1" in resumed.stderr
    rows = records(out)
    ids = rows["sample_id"]
    assert len(ids) == len(set(ids)) == samples_expected
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in metrics if "train/samples" in r] == list(range(1, iterations * steps + 1))
    assert [r["iteration"] for r in metrics if "eval/reward_mean" in r] == list(range(iterations + 1))
    summary = json.loads((out / "summary.json").read_text())
    assert [r["iteration"] for r in summary["iterations"]] == list(range(iterations + 1))
    expected = {r["sample_id"]: r for r in records(uninterrupted)}
    for row in rows:
        twin = expected[row["sample_id"]]
        assert row["response_token_ids"] == twin["response_token_ids"], row["sample_id"]
        assert row["reward"] == pytest.approx(twin["reward"])
        assert row["behaviour_logprobs"] == pytest.approx(twin["behaviour_logprobs"], abs=1e-4)
        assert row["staleness"] == twin["staleness"]


def _kill_session(session_id: int) -> None:
    listed = subprocess.run(["ps", "-o", "pid=", "-s", str(session_id)], capture_output=True, text=True).stdout
    for pid in [session_id] + [int(p) for p in listed.split() if int(p) != session_id]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(2)
