"""TRL's GRPO and online DPO on the same model, prompts, reward and batch as our default job, for
bench/throughput.py.

TRL is an optional extra of the benchmark only (`pip install -e .[bench]`); it runs in a process of its own:

    python -m bench.trl_baseline '{"model": "...", "steps": 8, "warmup": 2, "beta": 0.04}'
    python -m bench.trl_baseline '{"model": "...", "steps": 8, "warmup": 2, "trainer": "online_dpo"}'
    python -m bench.trl_baseline '{"model": "...", "steps": 8, "warmup": 2, "beta": 0.04, "bf16": true}'
    python -m bench.trl_baseline '{"model": "...", "steps": 8, "warmup": 2, "beta": 0.04, "gradient_checkpointing": false}'
    python -m bench.trl_baseline '{"model": "...", "steps": 8, "warmup": 2, "beta": 0.04, "torch_compile": true}'

One optimizer step = 64 completions of at most 32 tokens, transformers' generate, fp32 on the CPU (or, with
"bf16", TRL's own bf16 setting: autocast over its forward and backward passes, generation in fp32); GRPO:
16 prompts x 4 (per-device batch 16, 4 accumulation steps, one generation per step); online DPO: 32 prompts
x its 2 (per-device batch 8 prompts, 4 accumulation steps, its reference model, beta 0.1). Reward: the share
of the letter "o" (our toy reward). TRL's configs turn gradient checkpointing on by default (each layer's forward
computed again in the backward pass: memory for compute; online DPO then also generates without a KV cache);
"gradient_checkpointing": false turns it off, as a user with memory to spare would; "torch_compile": true is
transformers' own setting (the trained model through torch.compile). Prints the median seconds of a step after
the warm-up.
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
RESULT = "trl seconds per step: "


def step_seconds(model: str, steps: int, warmup: int, trainer: str, beta: float, bf16: bool = False,
                 gradient_checkpointing: bool = True, torch_compile: bool = False) -> float:
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback

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

    output = tempfile.TemporaryDirectory(prefix=f"trl-{trainer}-")  # it saves nothing (save_strategy no)
    common = {"output_dir": output.name, "gradient_accumulation_steps": 4,
              "max_steps": steps + warmup, "learning_rate": 1e-5, "use_cpu": True, "bf16": bf16, "report_to": "none",
              "gradient_checkpointing": gradient_checkpointing, "logging_steps": 10**6, "save_strategy": "no", "temperature": 1.0,
              "torch_compile": torch_compile}
    if trainer == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        config = GRPOConfig(per_device_train_batch_size=16, num_generations=4, max_completion_length=32, beta=beta,
                            **common)
        run = GRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[StepTimes()])
    else:
        from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

        config = OnlineDPOConfig(per_device_train_batch_size=8, max_new_tokens=32, beta=[beta], **common)
        run = OnlineDPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=dataset,
                               processing_class=tokenizer, callbacks=[StepTimes()])
    run.train()
    return statistics.median(b - a for a, b in zip(ends[warmup - 1 :], ends[warmup:]))


def trl_seconds(model: str, steps: int, warmup: int, trainer: str, beta: float, bf16: bool = False,
                gradient_checkpointing: bool = True, torch_compile: bool = False) -> float:
    """step_seconds in a process of its own (TRL and accelerate set up their own state)."""
    from bench.floors import run_marked

    job = {"model": model, "steps": steps, "warmup": warmup, "trainer": trainer, "beta": beta, "bf16": bf16,
           "gradient_checkpointing": gradient_checkpointing, "torch_compile": torch_compile}
    return run_marked("bench.trl_baseline", job, RESULT)


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    seconds = step_seconds(job["model"], job["steps"], job["warmup"], job.get("trainer", "grpo"), job.get("beta", 0.0),
                           job.get("bf16", False), job.get("gradient_checkpointing", True), job.get("torch_compile", False))
    print(f"{RESULT}{seconds}", flush=True)
