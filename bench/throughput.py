"""Throughput against the compute floor: each phase of our training step beside what plain PyTorch, DeepSpeed
and vLLM take for the same model and the same tokens.

    python bench/throughput.py [--sizes tiny 25m 100m] [--steps 8] [--warmup 2] [--variants "key=value ..."]
                               [--no-trl | --trl-bf16]

For each model size, in one run on an idle machine:
1. ours: the default job (online UNA, 16 prompts x 4 samples of up to 32 tokens a step) through launch.py
   for --steps steps; each phase's median seconds per step after --warmup steps (metrics.jsonl's time/*).
2. floors, on the very tokens of one of those steps (read back from the run's records): vLLM generating
   the step's prompts alone (an actor like ours, timed inside it), a forward pass without gradients
   (the reference scorer's work), DeepSpeed's step (ZeRO stage 0, what learner.zero_stage auto gives our one
   rank, micro-batches of 16 sequences, as a user would write it), plain PyTorch forward+backward+AdamW on
   the same micro-batches, and a memcpy of the fp32 weights (the weight push).
Prints a table per size: ours, the floor, their ratio; then the step against the sum of the floors, and
completions per second; then our step with generation overlapped (train.max_staleness, --staleness).

When TRL is installed (`pip install -e .[bench]`), TRL's GRPO on the same model, prompts, reward and batch
(bench/trl_baseline.py), with its default beta 0 (no reference model) and with beta 0.04 (a reference
model: the same work as ours), and its online DPO (bench/trl_baseline.py), completions/s against ours.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# hidden, layers, heads, intermediate (the tiny builder's Llama); vocabulary is the tiny tokenizer's
SIZES = {"tiny": None, "25m": (512, 8, 8, 1376), "100m": (768, 12, 12, 2560)}
PHASES = ("generate", "score", "reference", "learn", "sync", "other")
MICRO_BATCH = 16


def model_overrides(size: str) -> list[str]:
    if SIZES[size] is None:
        return []
    keys = ("hidden_size", "num_layers", "num_heads", "intermediate_size")
    return [f"model.tiny.{k}={v}" for k, v in zip(keys, SIZES[size])]


def run_ours(size: str, steps: int, warmup: int, out: Path, cache_dir: str, staleness: int = 0,
             overrides: tuple[str, ...] = ()) -> dict:
    """Our step, phase by phase: the median of each phase's seconds over the steps after the warm-up."""
    command = [sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={cache_dir}",
               "train.iterations=1", f"train.steps_per_iteration={steps + warmup}", "data.toy_eval_prompts=4",
               f"train.max_staleness={staleness}", *model_overrides(size), *overrides]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "RAY_ADDRESS": "local"},
                          timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"launch.py for {size} failed:\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in rows if "time/total" in r][warmup:]
    phases = {p: statistics.median(r[f"time/{p}"] for r in timed) for p in PHASES}
    phases["step"] = statistics.median(r["time/total"] for r in timed)
    phases["completions"] = statistics.median(r["train/samples"] + r["train/abstained"] for r in timed)
    return phases


def step_samples(out: Path, step: int):
    """The samples of one step of our run, as the learner saw them."""
    import pyarrow.parquet as pq

    from core.records import Sample

    table = pq.read_table(out / "records" / f"train-i1-s{step}.parquet").to_pylist()
    return [Sample.from_record(row) for row in table]


def model_path_of(out: Path) -> str:
    return json.loads((out / "summary.json").read_text())["model_path"]


def floors(model_path: str, samples, repeats: int) -> dict:
    from bench import floors as f
    from learner.weights import load_model_weights

    weights = load_model_weights(model_path, parameters_only=True)
    flat = [t.contiguous() for t in weights.values()]
    copies = [t.clone() for t in flat]

    def memcpy():
        for source, target in zip(flat, copies):
            target.copy_(source)

    return {
        "generate": f.vllm_generate_seconds(model_path, samples, repeats),
        "reference": f.forward_seconds(model_path, samples, MICRO_BATCH, repeats),
        "learn": f.deepspeed_step_seconds(model_path, samples, MICRO_BATCH, repeats, zero_stage=0),
        "torch": f.torch_step_seconds(model_path, samples, MICRO_BATCH, repeats),
        "sync": f.median_seconds(memcpy, repeats),
        "params_m": sum(t.numel() for t in flat) / 1e6,
    }


def report(size: str, ours: dict, floor: dict) -> None:
    print(f"\n{size} ({floor['params_m']:.1f}M parameters), {ours['completions']:.0f} completions a step, "
          "median seconds per step\n")
    print("| phase | ours | floor | ours / floor | the floor |")
    print("|---|---|---|---|---|")
    what = {"generate": "vLLM generate alone", "score": "-", "reference": "forward pass, no gradients",
            "learn": "DeepSpeed step, ZeRO stage 0", "sync": "memcpy of the fp32 weights", "other": "-"}
    for phase in PHASES:
        base = floor.get(phase)
        ratio = f"{ours[phase] / base:.2f}x" if base else "-"
        print(f"| {phase} | {ours[phase]:.3f} | {'-' if base is None else f'{base:.3f}'} | {ratio} | {what[phase]} |")
    total = sum(floor[p] for p in ("generate", "reference", "learn", "sync"))
    print(f"| **step** | {ours['step']:.3f} | {total:.3f} | {ours['step'] / total:.2f}x | the sum of the floors |")
    # generation on devices of its own, overlapped with everything else (train.max_staleness 1): the slower of the two
    apart = max(ours["generate"], ours["step"] - ours["generate"])
    print(f"| simulated: generation on its own devices, max_staleness 1 | {apart:.3f} | | "
          f"{ours['step'] / apart:.2f}x faster | max(generate, the rest of the step) |")
    print(f"\nplain PyTorch forward+backward+AdamW: {floor['torch']:.3f} s (DeepSpeed's step is "
          f"{floor['learn'] / floor['torch']:.2f}x it); completions/s: ours {ours['completions'] / ours['step']:.1f}, "
          f"at the floors {ours['completions'] / total:.1f}")


TRL_RUNS = (("grpo", 0.0, "GRPO, its default beta 0: no reference model"),
            ("grpo", 0.04, "GRPO, beta 0.04: a reference model, our work"),
            ("online_dpo", 0.1, "online DPO, its default beta 0.1: 2 completions a prompt, a reference model"))


def compare_trl(model_path: str, ours: dict[str, dict], steps: int, warmup: int, bf16: bool) -> None:
    """TRL's GRPO and online DPO against each of our variants (the default run, and each --variants one), in
    float32 and, with bf16, again with TRL's own bf16 setting."""
    from bench.trl_baseline import trl_seconds

    for (trainer, beta, what), in_bf16 in itertools.product(TRL_RUNS, (False, True) if bf16 else (False,)):
        seconds = trl_seconds(model_path, steps, warmup, trainer, beta, in_bf16)
        completions = next(iter(ours.values()))["completions"]
        print(f"TRL {what}{', bf16' if in_bf16 else ''}: {seconds:.3f} s a step, "
              f"{completions / seconds:.1f} completions/s")
        for name, run in ours.items():
            mine = run["completions"] / run["step"]
            print(f"  ours ({name}): {run['step']:.3f} s a step, {mine:.1f} completions/s = "
                  f"{mine / (completions / seconds):.2f}x")


def micro_batch_comparison(size: str, cache_dir: str, repeats: int, prompt_tokens: tuple[int, int]) -> None:
    """The learner's step and the reference's forward, in this process, on 64 samples (16 prompts of
    prompt_tokens, 4 responses of up to 32 tokens each): micro-batches of 16 sequences in arrival order against
    learner.max_tokens_per_micro_batch, each sample its own row or a prompt's samples in one
    (learner.share_prompts)."""
    from bench.floors import median_seconds, synthetic_samples, una_signal
    from core.config import AlgorithmConfig, LearnerConfig, TinyModelConfig
    from learner.engine import PolicyLearner
    from learner.objectives import LearnerBatch
    from models.tiny import build_tiny_model

    shape = dict(zip(("hidden_size", "num_layers", "num_heads", "intermediate_size"), SIZES[size] or ()))
    path = str(build_tiny_model(TinyModelConfig(cache_dir=cache_dir, **shape)))
    samples = synthetic_samples(64, prompt_tokens, 32, vocab=200)
    print(f"\n{size}, prompts of {prompt_tokens[0]}-{prompt_tokens[1]} tokens: micro-batches, median seconds of "
          f"{repeats} (after one warm-up)\n")
    print("| learner.max_tokens_per_micro_batch | learner.share_prompts | learner step | reference forward |")
    print("|---|---|---|---|")
    for budget, share in ((0, False), (1024, False), (1024, True), (2048, False), (2048, True)):
        config = LearnerConfig(max_tokens_per_micro_batch=budget, share_prompts=share)
        learner = PolicyLearner(path, config, AlgorithmConfig(), 64, 0)
        batch = LearnerBatch(samples, learner.sequence_logprobs(samples), una_signal(samples))
        learn = median_seconds(lambda learner=learner, batch=batch: learner.train_step(batch), repeats)
        forward = median_seconds(lambda learner=learner: learner.sequence_logprobs(samples), repeats)
        print(f"| {budget or '0 (16 sequences)'} | {str(share).lower()} | {learn:.3f} | {forward:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "25m"], choices=list(SIZES))
    parser.add_argument("--steps", type=int, default=6, help="timed steps of our run (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each floor (after one warm-up)")
    parser.add_argument("--staleness", type=int, nargs="*", default=[1],
                        help="also run ours with these train.max_staleness values (generation overlapped)")
    parser.add_argument("--variants", nargs="*", default=[],
                        help="also run ours with each of these overrides (e.g. learner.compute_dtype=bfloat16) and "
                             "compare it with TRL too")
    parser.add_argument("--trl", action=argparse.BooleanOptionalAction, default=True,
                        help="compare with TRL when it is installed (--no-trl: skip; its online DPO takes minutes)")
    parser.add_argument("--trl-bf16", action="store_true",
                        help="also run TRL with its bf16 setting (autocast; pays on a CPU with AVX512-BF16 or AMX)")
    parser.add_argument("--micro-batches", action="store_true",
                        help="only compare fixed and token-budget micro-batches, and shared-prompt rows, in this process "
                             "(synthetic samples)")
    parser.add_argument("--prompt-tokens", type=int, nargs=2, default=[8, 40], metavar=("LOW", "HIGH"),
                        help="with --micro-batches: the synthetic prompts' lengths")
    args = parser.parse_args()
    cache_dir = tempfile.mkdtemp(prefix="bench-models-")
    from core.device import cpu_description

    print(cpu_description())
    if args.micro_batches:
        for size in args.sizes:
            micro_batch_comparison(size, cache_dir, args.repeats, tuple(args.prompt_tokens))
        return
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "run"
            started = time.perf_counter()
            ours = run_ours(size, args.steps, args.warmup, out, cache_dir)
            floor = floors(model_path_of(out), step_samples(out, args.warmup + 1), args.repeats)
            report(size, ours, floor)
            variants = {"default": ours}
            for index, variant in enumerate(args.variants):
                variants[variant] = run_ours(size, args.steps, args.warmup, Path(folder) / f"v{index}", cache_dir,
                                             overrides=tuple(variant.split()))
                print(f"ours with {variant}: " + ", ".join(f"{p} {variants[variant][p]:.3f}" for p in (*PHASES, "step")))
            if args.trl and importlib.util.find_spec("trl") is None:
                print("TRL is not installed (pip install -e .[bench]): no comparison with TRL")
            elif args.trl:
                compare_trl(model_path_of(out), variants, args.steps, args.warmup, args.trl_bf16)
            for staleness in args.staleness:
                overlapped = run_ours(size, args.steps, args.warmup, Path(folder) / f"k{staleness}", cache_dir, staleness)
                print(f"train.max_staleness={staleness}: {overlapped['step']:.3f} s a step, "
                      f"{overlapped['completions'] / overlapped['step']:.1f} completions/s "
                      f"({ours['step'] / overlapped['step']:.2f}x the synchronous loop's); waiting for generation "
                      f"{overlapped['generate']:.3f} s a step (synchronous: {ours['generate']:.3f})")
            print(f"({time.perf_counter() - started:.0f} s for this size)")


if __name__ == "__main__":
    main()
