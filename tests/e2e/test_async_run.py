"""train.max_staleness 1 through the real actors: the engines generate the next step while the learner trains;
every record says how stale its sample was (never above 1), reward still rises, and a killed run resumes to
the same records as one that was never killed."""

import json
import sys
from pathlib import Path

import pytest
from resume_check import assert_resume_matches, kill_in_iteration_2, records, run_to_end

ITERATIONS, STEPS, PROMPTS, SAMPLES, EVAL_PROMPTS = 2, 10, 16, 4, 16
pytestmark = pytest.mark.slow


def _command(out: Path, tiny_config) -> list[str]:
    return [sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={tiny_config.cache_dir}",
            "train.max_staleness=1", f"train.iterations={ITERATIONS}", f"train.steps_per_iteration={STEPS}",
            f"data.toy_eval_prompts={EVAL_PROMPTS}"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_config) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    return run_to_end(_command(out, tiny_config), out)


def test_each_sample_is_at_most_one_version_stale_and_reward_rises(uninterrupted):
    train = records(uninterrupted, "train-*.parquet")
    by_step = {}
    for row in train:
        by_step.setdefault((row["iteration"], row["step"]), set()).add((row["staleness"], row["policy_version"]))
    for (iteration, step), seen in by_step.items():
        # an iteration's first step is generated after the evaluation (fresh); every later one was generated
        # while the learner trained on the step before, by the policy of two steps back
        global_step = (iteration - 1) * STEPS + step
        expected = {(0, global_step - 1)} if step == 1 else {(1, global_step - 2)}
        assert seen == expected, (iteration, step, seen)
    metrics = [json.loads(line) for line in (uninterrupted / "metrics.jsonl").read_text().splitlines()]
    assert max(r["train/staleness_max"] for r in metrics if "train/staleness_max" in r) == 1
    iterations = json.loads((uninterrupted / "summary.json").read_text())["iterations"]
    rewards = [row["eval_reward"] for row in iterations]
    assert rewards[-1] > rewards[0] + 0.01, rewards
    for row in iterations[1:]:  # an iteration's seconds are its steps' (time/total), evaluation not included
        steps = sum(r["time/total"] for r in metrics if r.get("iteration") == row["iteration"] and "time/total" in r)
        assert row["seconds"] == pytest.approx(steps, abs=0.5), (row, steps)


def test_killed_asynchronous_run_resumes_to_the_same_records(uninterrupted, tmp_path, tiny_config):
    out = tmp_path / "run"
    kill_in_iteration_2(_command(out, tiny_config), out)
    assert_resume_matches(_command(out, tiny_config), out, uninterrupted, ITERATIONS, STEPS,
                          (ITERATIONS * STEPS * PROMPTS + (ITERATIONS + 1) * EVAL_PROMPTS) * SAMPLES)
