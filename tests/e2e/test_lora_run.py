"""A LoRA policy (model.lora) through the real actors: the learner trains the adapter only, each push sends it
alone to vLLM's LoRA serving and the engine then computes the learner's log-probs; the reference is the base
with the adapter switched off (no reference actor). A killed LoRA run's exact resume is checked by
tests/e2e/test_iterative_run.py, whose runs are LoRA ones."""

import json
import statistics
import sys
from pathlib import Path

import pytest
from resume_check import records, run_to_end

ITERATIONS, STEPS, EVAL_PROMPTS = 3, 10, 16
pytestmark = pytest.mark.slow


def _command(out: Path, tiny_config) -> list[str]:
    # LoRA takes a larger step than full fine-tuning (learner.lr 1e-3 by default), as is usual
    return [sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={tiny_config.cache_dir}",
            "model.lora.enabled=true", "learner.lr=1e-2", "train.verify_sync=true",
            "learner.compute_dtype=float32", "model.dtype=float32",  # the exactness checked below is float32's
            f"train.iterations={ITERATIONS}", f"train.steps_per_iteration={STEPS}", f"data.toy_eval_prompts={EVAL_PROMPTS}"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_config) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    return run_to_end(_command(out, tiny_config), out)


@pytest.fixture(scope="module")
def metrics(uninterrupted) -> list[dict]:
    return [json.loads(line) for line in (uninterrupted / "metrics.jsonl").read_text().splitlines()]


def test_reward_rises_on_fresh_prompts(metrics):
    # the reward on each step's fresh prompts (640 samples an iteration): on the tiny model a LoRA policy's
    # held-out reward rises more slowly than full fine-tuning's (docs/lora.md, bench/lora.py), too little for 16 prompts.
    # At lr 1e-2 the rise need not last: on an AMD EPYC with AVX2 the three iterations gave 0.108, 0.130, 0.112 (the
    # same before and after commit 4245004), so the test asks that a later iteration beat the first
    per_iteration = [statistics.mean(r["train/reward_mean"] for r in metrics
                                     if r.get("iteration") == i and "train/reward_mean" in r)
                     for i in range(1, ITERATIONS + 1)]
    assert max(per_iteration[1:]) > per_iteration[0] + 0.01, per_iteration


def test_every_adapter_push_reaches_the_engine_and_no_reference_model_is_held(uninterrupted, metrics):
    synced = [r["train/sync_max_logprob_diff"] for r in metrics if "train/sync_max_logprob_diff" in r]
    assert len(synced) == ITERATIONS * STEPS and max(synced) < 1e-3  # the engine serves each new adapter exactly
    summary = json.loads((uninterrupted / "summary.json").read_text())
    assert set(summary["peak_memory_mb"]) == {"rollout", "oracle", "learner"}
    from peft import PeftConfig

    folder = uninterrupted / "checkpoints" / f"iteration-{ITERATIONS}"
    assert PeftConfig.from_pretrained(str(folder / "adapter")).r == 8  # the adapter, beside the merged model
    adapter_bytes = sum(f.stat().st_size for f in (folder / "adapter").iterdir())
    assert adapter_bytes < 0.15 * (folder / "model.safetensors").stat().st_size
    card = (folder / "README.md").read_text()  # the model card, as the Hub shows it
    assert "- lora" in card and f"| {ITERATIONS} | " in card and f"{ITERATIONS} iterations, {ITERATIONS * STEPS} steps" in card


def test_the_adapter_disabled_reference_is_the_initial_policy(uninterrupted, tiny_model_path):
    import torch
    from transformers import AutoModelForCausalLM

    from core.records import Sample
    from learner.logprobs import response_logprobs

    late = list(records(uninterrupted, f"train-i{ITERATIONS}-*.parquet"))[:16]
    assert all(r["policy_version"] > 0 for r in late)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32).eval()
    initial = response_logprobs(base, [Sample.from_record(r) for r in late], base.config.pad_token_id, 16)
    assert max(abs(a - b) for row, r in zip(initial, late) for a, b in zip(row, r["reference_logprobs"])) < 1e-4
    # while the policy that drew them had moved
    assert max(abs(a - b) for row, r in zip(initial, late) for a, b in zip(row, r["behaviour_logprobs"])) > 1e-2
