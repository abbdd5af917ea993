"""A shortened default run through launch.py: real Ray, vLLM (CPU build) and DeepSpeed, no fakes.

Mid-run the rollout engine's process is killed, as the OOM killer would: Ray restarts the actor, the loop
gives it the current weights and retries the call, and every check below holds as for an undisturbed run
(each sample recorded once, every step's weights verified equal in the engine and the learner). An engine
whose vLLM engine core runs in a process of its own exits when that process dies (test_engine_core_death)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from terminal import third_party_warnings
from tracker_runs import mlflow_run, wandb_run

ROOT = Path(__file__).resolve().parents[2]
ITERATIONS, STEPS, PROMPTS, SAMPLES, EVAL_PROMPTS = 2, 15, 16, 4, 32
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_config):
    import os

    out = tmp_path_factory.mktemp("run")
    command = [sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={tiny_config.cache_dir}",
               f"train.iterations={ITERATIONS}", f"train.steps_per_iteration={STEPS}", "train.verify_sync=true",
               "logging.trackers=[jsonl,tensorboard,mlflow,wandb]"]
    env = os.environ | {"WANDB_DATA_DIR": str(out / "wandb-data")}  # W&B stages artifacts there (default: ~)
    env.pop("RAY_ADDRESS")  # the default job starts a Ray instance of its own (the other runs join conftest's)
    with (out / "stdout.txt").open("w") as stdout, (out / "stderr.txt").open("w") as stderr:
        run = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=stderr, env=env)
        _kill_engine_after_step(run, out / "metrics.jsonl", 5)
        assert run.wait(timeout=1200) == 0, (out / "stderr.txt").read_text()[-4000:]
    return out


def _kill_engine_after_step(run: subprocess.Popen, metrics: Path, step: int) -> None:
    """SIGKILL the run's RolloutEngine actor process (a worker of the Ray instance launch.py started)."""
    import os
    import signal
    import time

    import psutil

    deadline = time.time() + 600
    while time.time() < deadline and (not metrics.is_file() or metrics.read_text().count("train/reward_mean") < step):
        assert run.poll() is None, "the run ended before the engine could be killed"
        time.sleep(0.5)
    engines = [p for p in psutil.Process(run.pid).children(recursive=True)
               if p.cmdline() and p.cmdline()[0].startswith("ray::RolloutEngine")]
    assert len(engines) == 1, [p.cmdline() for p in psutil.Process(run.pid).children(recursive=True)]
    os.kill(engines[0].pid, signal.SIGKILL)


def test_a_killed_rollout_engine_is_restarted_and_the_run_goes_on(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["actor_restarts"] == 1 and summary["stop_reason"] == "iteration_limit"
    assert "Ray restarts it (restart 1 of cluster.max_restarts=3)" in (run_dir / "stderr.txt").read_text()


def test_summary_and_printed_table(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [row["iteration"] for row in summary["iterations"]] == [0, 1, 2]
    assert summary["stop_reason"] == "iteration_limit"
    assert summary["config"]["train"]["steps_per_iteration"] == STEPS
    assert set(summary["phase_seconds"]) >= {"generate", "score", "reference", "learn", "sync", "other"}
    assert set(summary["peak_memory_mb"]) == {"rollout", "oracle", "learner"}  # learner rank 0 holds the reference
    assert all(mb > 50 for mb in summary["peak_memory_mb"].values())
    assert summary["iterations"][0]["kl_to_initial"] == pytest.approx(0.0, abs=1e-3)
    assert summary["iterations"][0]["win_rate_vs_previous"] is None
    assert all(0 <= row["win_rate_vs_previous"] <= 1 for row in summary["iterations"][1:])
    assert all(0 <= row["guard"] <= 1 for row in summary["iterations"])  # toy task: topics named, on held-out
    assert (run_dir / "curves.png").stat().st_size > 10_000
    assert "Stopped: **iteration_limit**" in (run_dir / "report.md").read_text()
    stdout = (run_dir / "stdout.txt").read_text()
    assert "held-out reward" in stdout and str(run_dir) in stdout


def test_the_terminal_shows_our_lines_and_no_library_warnings(run_dir):
    output = (run_dir / "stdout.txt").read_text() + (run_dir / "stderr.txt").read_text()
    assert third_party_warnings(output) == []
    assert "INFO loop.training: iteration 2: held-out reward" in output


def test_mlflow_and_wandb_hold_what_metrics_jsonl_holds(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = {r["step"]: r["train/reward_mean"] for r in rows if "train/reward_mean" in r}
    held_out = {r["step"]: r["eval/reward_mean"] for r in rows if "eval/reward_mean" in r}
    for run in (mlflow_run(run_dir), wandb_run(run_dir)):
        assert run.runs == 1 and run.status == "FINISHED"
        assert run.metrics["train/reward_mean"] == pytest.approx(train)
        assert run.metrics["eval/reward_mean"] == pytest.approx(held_out)
        assert sorted(run.artifacts) == ["curves.png", "report.md", "summary.json"]
    assert mlflow_run(run_dir).params["train.steps_per_iteration"] == str(STEPS)


def test_held_out_reward_rises(run_dir):
    rewards = [row["eval_reward"] for row in json.loads((run_dir / "summary.json").read_text())["iterations"]]
    assert rewards[-1] > rewards[0] + 0.01, rewards


def test_reward_logged_every_step_and_weights_synced_exactly(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if "train/reward_mean" in r]
    assert [r["step"] for r in train] == list(range(1, ITERATIONS * STEPS + 1))
    from loop.policy_sync import SYNC_TOLERANCE

    # exact up to the rounding of the precision the default picked here (auto: bfloat16 on a CPU with bfloat16 units)
    precision = json.loads((run_dir / "summary.json").read_text())["precision"]["serving_dtype"]
    assert all(r["train/sync_max_logprob_diff"] < SYNC_TOLERANCE[precision] for r in train)
    assert [r["train/policy_version"] for r in train] == list(range(1, ITERATIONS * STEPS + 1))
    assert (run_dir / "tensorboard").is_dir() and any((run_dir / "tensorboard").iterdir())


def test_records_reload_with_every_sample_once(run_dir):
    import datasets

    records = datasets.load_dataset("parquet", data_files=str(run_dir / "records" / "*.parquet"), split="train")
    train_rows = ITERATIONS * STEPS * PROMPTS * SAMPLES
    eval_rows = (ITERATIONS + 1) * EVAL_PROMPTS * SAMPLES
    assert len(records) == train_rows + eval_rows
    assert len(set(records["sample_id"])) == len(records)
    train = records.filter(lambda r: r["sample_id"].startswith("train-"))
    assert all(r["reward"] is not None and 0 <= r["target"] <= 1 for r in train)
    row = train[0]
    assert len(row["behaviour_logprobs"]) == len(row["response_token_ids"]) == len(row["reference_logprobs"])


def test_records_export_to_a_preference_data_set_and_the_report_is_rebuilt(run_dir, tmp_path):
    import datasets

    command = str(Path(sys.executable).parent / "una-align")  # the installed command
    done = subprocess.run([command, "export", str(run_dir), "--kind", "pairs", "--out", str(tmp_path / "pairs.parquet")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    pairs = datasets.load_dataset("parquet", data_files=str(tmp_path / "pairs.parquet"), split="train")
    assert done.stdout.startswith(f"wrote {len(pairs)} pairs examples")
    assert len(pairs) > ITERATIONS * STEPS * PROMPTS // 2  # most prompts' 4 samples do not all tie
    assert all(row["score_chosen"] > row["score_rejected"] for row in pairs)
    assert pairs[0]["prompt"][0]["content"].startswith("write about")  # the user's text, not the chat template
    report = run_dir / "report.md"
    report.unlink()
    done = subprocess.run([command, "report", str(run_dir)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Stopped: **iteration_limit**" in report.read_text(), done.stderr[-2000:]


def test_checkpoint_loads_in_transformers_and_vllm_alike(run_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    summary = json.loads((run_dir / "summary.json").read_text())
    checkpoint = summary["paths"]["checkpoints"][-1]
    assert checkpoint.endswith(f"iteration-{ITERATIONS}")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    prompt = tokenizer("<|user|>write about the moon.</s><|assistant|>", add_special_tokens=False)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    with torch.no_grad():
        greedy = model.generate(torch.tensor([prompt]), max_new_tokens=6, do_sample=False, min_new_tokens=6)
    expected = greedy[0, len(prompt):].tolist()

    script = tmp_path / "load_in_vllm.py"
    script.write_text(
        "import sys\nfrom vllm import LLM, SamplingParams\n"
        "if __name__ == '__main__':\n"
        f"    llm = LLM(model={checkpoint!r}, dtype='float32', enforce_eager=True,\n"
        "              gpu_memory_utilization=0.2, max_model_len=128)\n"
        f"    out = llm.generate([{{'prompt_token_ids': {prompt}}}], SamplingParams(max_tokens=6, min_tokens=6, temperature=0))\n"
        "    print('TOKENS', list(out[0].outputs[0].token_ids))\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "VLLM_CPU_KVCACHE_SPACE": "1",
                              "VLLM_ENABLE_V1_MULTIPROCESSING": "0"})  # starts 25 s sooner, loads the same
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith("TOKENS "))
    tokens = json.loads(line.removeprefix("TOKENS "))
    assert tokens == expected
