"""Compute floors for one training step's batch, measured in this process: what plain PyTorch, DeepSpeed and
vLLM take for the same model and tokens with nothing of ours around them (bench/throughput.py prints them
beside our phases); synthetic samples for in-process comparisons.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULT = "vllm generate seconds: "
sys.path.insert(0, str(ROOT))

from core.records import Sample, Signal  # noqa: E402


def median_seconds(work: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def llama_25m():
    """The 25M model's shape (bench/throughput.py's 25m size: hidden 512, 8 layers, 8 heads, intermediate 1376) with
    the tiny tokenizer's vocabulary, random weights: for in-process measurements that need no model folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=320, hidden_size=512, num_hidden_layers=8, num_attention_heads=8,
                         intermediate_size=1376, tie_word_embeddings=True)
    return LlamaForCausalLM(config)


def synthetic_samples(count: int, prompt_tokens: tuple[int, int], response_tokens: int, vocab: int,
                      seed: int = 0) -> list[Sample]:
    """Samples shaped like a step's: 4 responses to each prompt, prompt lengths drawn from a range, responses of
    up to response_tokens (a quarter stop early, as sampled responses do)."""
    rng = random.Random(seed)
    samples = []
    for i in range(count):
        if i % 4 == 0:
            prompt = [rng.randrange(3, vocab) for _ in range(rng.randint(*prompt_tokens))]
        length = response_tokens if rng.random() < 0.75 else rng.randint(response_tokens // 4, response_tokens)
        response = [rng.randrange(3, vocab) for _ in range(length)]
        samples.append(Sample(f"s{i}", f"p{i // 4}", "", prompt, response, "", [-1.0] * length, "length", 0, 1, 1))
    return samples


def padded_batches(samples: list[Sample], micro_batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from learner.batch import collate

    out = []
    for start in range(0, len(samples), micro_batch_size):
        batch = collate(samples[start : start + micro_batch_size], 0)
        out.append((batch.input_ids, batch.attention_mask))
    return out


def _causal_lm_loss(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), input_ids[:, 1:].flatten())


def torch_step_seconds(model_path: str, samples: list[Sample], micro_batch_size: int, repeats: int) -> float:
    """Plain PyTorch: forward, backward and AdamW over the step's micro-batches."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    batches = padded_batches(samples, micro_batch_size)

    def step():
        for input_ids, mask in batches:
            _causal_lm_loss(model, input_ids, mask).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return median_seconds(step, repeats)


def deepspeed_step_seconds(model_path: str, samples: list[Sample], micro_batch_size: int, repeats: int,
                           zero_stage: int = 2) -> float:
    """DeepSpeed's own step (ZeRO over gloo, one rank): the same micro-batches through engine.backward/step."""
    import deepspeed
    from transformers import AutoModelForCausalLM

    from learner.engine import init_process_group

    init_process_group()
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    batches = padded_batches(samples, micro_batch_size)
    config = {"train_micro_batch_size_per_gpu": micro_batch_size, "gradient_accumulation_steps": len(batches),
              "gradient_clipping": 1.0, "zero_optimization": {"stage": zero_stage}, "steps_per_print": 10**9}
    engine, *_ = deepspeed.initialize(model=model, optimizer=torch.optim.AdamW(model.parameters(), lr=1e-5),
                                      config=config)

    def step():
        for input_ids, mask in batches:
            engine.backward(_causal_lm_loss(engine, input_ids, mask))
            engine.step()

    return median_seconds(step, repeats)


def forward_seconds(model_path: str, samples: list[Sample], micro_batch_size: int, repeats: int) -> float:
    """A forward pass without gradients over the step's samples (the reference scorer's work)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    batches = padded_batches(samples, micro_batch_size)

    @torch.no_grad()
    def forward():
        for input_ids, mask in batches:
            model(input_ids=input_ids, attention_mask=mask, use_cache=False)

    return median_seconds(forward, repeats)


def una_signal(samples: list[Sample], seed: int = 0) -> Signal:
    rng = random.Random(seed)
    return Signal("scores", scores=[rng.random() for _ in samples])


def vllm_generate_seconds(model_path: str, samples: list[Sample], repeats: int, max_new_tokens: int = 32,
                          dtype: str = "float32", enforce_eager: bool = True) -> float:
    """vLLM alone generating the step's prompts (n samples each, with log-probs, as the rollout engine asks),
    in a process of its own so its engine processes end with it (dtype, enforce_eager: model.dtype's and
    rollout.enforce_eager's settings)."""
    prompts = {s.prompt_id: s.prompt_token_ids for s in samples}
    job = {"model": model_path, "prompts": list(prompts.values()), "n": len(samples) // len(prompts),
           "max_tokens": max_new_tokens, "repeats": repeats, "dtype": dtype, "enforce_eager": enforce_eager}
    return run_marked("bench.floors", job, RESULT)


def run_marked(module: str, job: dict, marker: str, timeout_s: float = 3600.0) -> float:
    """python -m module 'job as JSON' in a process of its own, without the torch.distributed variables this
    process may have set (a DeepSpeed floor; accelerate would try to join its group); returns the number the
    child printed after marker (the libraries log to stdout too)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK")}
    done = subprocess.run([sys.executable, "-m", module, json.dumps(job)], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{done.stderr[-3000:]}")
    (line,) = [line for line in done.stdout.splitlines() if line.startswith(marker)]
    return float(line.removeprefix(marker))


def _time_vllm(job: dict) -> float:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from actors.placement import vllm_every_core
    from core.config import RolloutConfig
    from core.model_folder import weights_bytes

    separate = RolloutConfig().separate_engine_process  # the engine core where our engines keep it by default
    os.environ.update(vllm_every_core(weights_bytes(job["model"]), separate))  # as our engines run
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1" if separate else "0"
    from vllm import LLM, SamplingParams

    llm = LLM(model=job["model"], dtype=job["dtype"], seed=0, enforce_eager=job["enforce_eager"],
              gpu_memory_utilization=0.2, max_model_len=128)
    params = SamplingParams(n=job["n"], temperature=1.0, max_tokens=job["max_tokens"], logprobs=0, seed=1)
    prompts = [{"prompt_token_ids": p} for p in job["prompts"]]
    return median_seconds(lambda: llm.generate(prompts, params, use_tqdm=False), job["repeats"])


if __name__ == "__main__":
    print(f"{RESULT}{_time_vllm(json.loads(sys.argv[1]))}", flush=True)
