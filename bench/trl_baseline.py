"""TRL's GRPO on the same model, prompts, reward and batch as our default job, for bench/throughput.py.

TRL is an optional extra of the benchmark only (`pip install -e .[bench]`); it runs in a process of its own:

    python -m bench.trl_baseline '{"model": "...", "steps": 8, "warmup": 2, "beta": 0.04}'

One optimizer step = 16 prompts x 4 completions of at most 32 tokens (per-device batch 16, 4 accumulation
steps, one generation per step, transformers' generate, fp32 on the CPU), reward: the share of the letter "o"
(our toy reward). Prints the median seconds of a step after the warm-up.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULT = "trl grpo seconds per step: "


def grpo_step_seconds(model: str, steps: int, warmup: int, beta: float) -> float:
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from core.config import DataConfig
    from core.data import load_prompts
    from rewards.letter_share import letter_share

    tokenizer = AutoTokenizer.from_pretrained(model)
    prompts = load_prompts(DataConfig(), tokenizer, seed=0).train
    dataset = Dataset.from_list([{"prompt": p.text} for p in prompts])

    def reward(completions, **_) -> list[float]:
        return [letter_share(text, "o") for text in completions]

    ends: list[float] = []

    class StepTimes(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            ends.append(time.perf_counter())

    config = GRPOConfig(output_dir=tempfile.mkdtemp(prefix="trl-grpo-"), per_device_train_batch_size=16,
                        gradient_accumulation_steps=4, num_generations=4, max_completion_length=32,
                        max_steps=steps + warmup, beta=beta, learning_rate=1e-5, use_cpu=True, bf16=False,
                        report_to="none", logging_steps=10**6, save_strategy="no", temperature=1.0)
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[StepTimes()])
    trainer.train()
    return statistics.median(b - a for a, b in zip(ends[warmup - 1 :], ends[warmup:]))


def trl_grpo_seconds(model: str, steps: int, warmup: int, beta: float) -> float:
    """grpo_step_seconds in a process of its own (TRL and accelerate set up their own state)."""
    from bench.floors import run_marked

    return run_marked("bench.trl_baseline", {"model": model, "steps": steps, "warmup": warmup, "beta": beta}, RESULT)


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    print(f"{RESULT}{grpo_step_seconds(job['model'], job['steps'], job['warmup'], job['beta'])}", flush=True)
