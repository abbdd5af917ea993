"""Throughput against the compute floor: each phase of our training step beside what plain PyTorch, DeepSpeed
and vLLM take for the same model and the same tokens.

    python bench/throughput.py [--sizes tiny 25m 100m] [--steps 8] [--warmup 2] [--variants "key=value ..."]
                               [--no-trl | --trl-bf16] [--trl-no-checkpointing] [--trl-compile]

For each model size, in one run on an idle machine:
1. ours: the default job (online UNA, 16 prompts x 4 samples of up to 32 tokens a step) through launch.py, in
   float32 as the floors (the default precision, auto, is float32 on a CPU without bfloat16 instructions; pass
   --variants "learner.compute_dtype=auto model.dtype=auto" for it elsewhere), for --steps steps; each phase's
   median seconds per step after --warmup steps (metrics.jsonl's time/*).
2. floors, on the very tokens of one of those steps (read back from the run's records): vLLM generating
   the step's prompts alone (an actor like ours, timed inside it), a forward pass without gradients
   (the reference scorer's work), DeepSpeed's step (ZeRO stage 0, what learner.zero_stage auto gives our one
   rank, micro-batches of 16 sequences, as a user would write it), plain PyTorch forward+backward+AdamW on
   the same micro-batches, and a memcpy of the fp32 weights (the weight push).
Prints a table per size: ours, the floor, their ratio; then the step against the sum of the floors, and
completions per second; then our step with generation overlapped (train.max_staleness, --staleness).

Every measurement runs --rounds times (default 2), odd rounds in reverse order: on a shared host whose pace
drifts, a ratio of two things measured minutes apart carries the drift; over two rounds each measurement's
mean sits at the same point in time. Tables use the means over the rounds; ratios are also printed per round.

When TRL is installed (`pip install -e .[bench]`), TRL's GRPO on the same model, prompts, reward and batch
(bench/trl_baseline.py), with its default beta 0 (no reference model) and with beta 0.04 (a reference
model: the same work as ours), and its online DPO (bench/trl_baseline.py), completions/s against ours. TRL's
trainers run with its defaults but bf16 off (--trl-bf16: with it too); its default gradient checkpointing costs
it a second forward pass per micro-batch, and its online DPO the KV cache in generation (--trl-no-checkpointing:
without it); --trl-compile: with transformers' torch_compile setting.
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# hidden, layers, heads, intermediate (the tiny builder's Llama); vocabulary is the tiny tokenizer's
SIZES = {"tiny": None, "25m": (512, 8, 8, 1376), "100m": (768, 12, 12, 2560)}
PHASES = ("generate", "score", "reference", "learn", "sync", "other")
FLOORED = ("generate", "reference", "learn", "sync")  # the phases with a floor
MICRO_BATCH = 16
FLOAT32 = ("learner.compute_dtype=float32", "model.dtype=float32")  # the precision of the floors


def model_shape(size: str) -> dict[str, int]:
    """The tiny builder's settings for a size (none for tiny: its defaults)."""
    return dict(zip(("hidden_size", "num_layers", "num_heads", "intermediate_size"), SIZES[size] or ()))


def model_overrides(size: str) -> list[str]:
    return [f"model.tiny.{k}={v}" for k, v in model_shape(size).items()]


def run_ours(size: str, steps: int, warmup: int, out: Path, cache_dir: str, overrides: tuple[str, ...] = ()) -> dict:
    """Our step, phase by phase: the median of each phase's seconds over the steps after the warm-up."""
    command = [sys.executable, "launch.py", "--output-dir", str(out), f"model.tiny.cache_dir={cache_dir}",
               "train.iterations=1", f"train.steps_per_iteration={steps + warmup}", "data.toy_eval_prompts=4",
               *model_overrides(size), *overrides]
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
    total = sum(floor[p] for p in FLOORED)
    print(f"| **step** | {ours['step']:.3f} | {total:.3f} | {ours['step'] / total:.2f}x | the sum of the floors |")
    # generation on devices of its own, overlapped with everything else (train.max_staleness 1): the slower of the two
    apart = max(ours["generate"], ours["step"] - ours["generate"])
    print(f"| simulated: generation on its own devices, max_staleness 1 | {apart:.3f} | | "
          f"{ours['step'] / apart:.2f}x faster | max(generate, the rest of the step) |")
    print(f"\nplain PyTorch forward+backward+AdamW: {floor['torch']:.3f} s (DeepSpeed's step is "
          f"{floor['learn'] / floor['torch']:.2f}x it); completions/s: ours {ours['completions'] / ours['step']:.1f}, "
          f"at the floors {ours['completions'] / total:.1f}")


# GRPO's default beta 0 has no reference model; beta 0.04 has one (our work); online DPO: its default beta 0.1, 2
# completions a prompt, a reference model
TRL_RUNS = (("grpo", 0.0, "GRPO beta 0"), ("grpo", 0.04, "GRPO beta 0.04"), ("online_dpo", 0.1, "online DPO"))


def interleaved(jobs: list[tuple[str, Callable[[], object]]], rounds: int) -> dict[str, list]:
    """Each job's result in every round; odd rounds run the jobs in reverse order, so that over two rounds every
    job's mean sits at the same point in time and a steady drift of the shared host's pace cancels out of the
    ratios (session notes: the host slowed 1.4x between the halves of one run)."""
    results: dict[str, list] = {name: [] for name, _ in jobs}
    for round_index in range(rounds):
        for name, job in jobs if round_index % 2 == 0 else reversed(jobs):
            started = time.perf_counter()
            results[name].append(job())
            print(f"[round {round_index + 1}/{rounds}] {name}: done in {time.perf_counter() - started:.0f} s", flush=True)
    return results


def mean_of(runs: list[dict]) -> dict:
    return {key: statistics.mean(run[key] for run in runs) for key in runs[0]}


def compare_trl(ours: dict[str, list[dict]], trl: dict[str, list[float]]) -> None:
    """Our completions/s against each TRL trainer's, per round and from the means of the rounds' seconds."""
    rounds = len(next(iter(trl.values())))
    print(f"\n| ours / TRL at equal completions | {' | '.join(f'round {r + 1}' for r in range(rounds))} | "
          "from the rounds' mean seconds |")
    print(f"|---|{'---|' * rounds}---|")
    for (trl_name, trl_runs), (name, runs) in itertools.product(trl.items(), ours.items()):
        per_round = [seconds / run["step"] for seconds, run in zip(trl_runs, runs)]
        overall = statistics.mean(trl_runs) / statistics.mean(run["step"] for run in runs)
        print(f"| ours ({name}) / {trl_name} | {' | '.join(f'{r:.2f}x' for r in per_round)} | {overall:.2f}x |")
    for trl_name, seconds in trl.items():
        print(f"{trl_name}: {', '.join(f'{s:.3f}' for s in seconds)} s a step")


def micro_batch_comparison(size: str, cache_dir: str, repeats: int, prompt_tokens: tuple[int, int],
                           variants: list[str], budgets: list[int]) -> None:
    """The learner's step and the reference's forward, in this process, on 64 samples (16 prompts of
    prompt_tokens, 4 responses of up to 32 tokens each): micro-batches of 16 sequences in arrival order against
    learner.max_tokens_per_micro_batch (at the first budget each sample its own row, then a prompt's samples in
    one, learner.share_prompts; at the others shared rows); with the default learner settings, then with each
    variant's learner.* overrides (e.g. learner.compute_dtype=bfloat16)."""
    from bench.floors import median_seconds, synthetic_samples, una_signal
    from core.config import AlgorithmConfig, TinyModelConfig, load_config
    from learner.engine import PolicyLearner
    from learner.objectives import LearnerBatch
    from models.tiny import build_tiny_model

    path = str(build_tiny_model(TinyModelConfig(cache_dir=cache_dir, **model_shape(size))))
    samples = synthetic_samples(64, prompt_tokens, 32, vocab=200)
    print(f"\n{size}, prompts of {prompt_tokens[0]}-{prompt_tokens[1]} tokens: micro-batches, median seconds of "
          f"{repeats} (after one warm-up)\n")
    print("| learner settings | learner.max_tokens_per_micro_batch | learner.share_prompts | learner step | "
          "reference forward |")
    print("|---|---|---|---|---|")
    for variant in ("", *variants):
        settings = [(0, False), (budgets[0], False), *((budget, True) for budget in budgets)]
        for budget, share in settings:
            overrides = [*variant.split(), f"learner.max_tokens_per_micro_batch={budget}", f"learner.share_prompts={share}"]
            learner = PolicyLearner(path, load_config(None, overrides).learner, AlgorithmConfig(), 64, 0)
            batch = LearnerBatch(samples, learner.sequence_logprobs(samples), una_signal(samples))
            learn = median_seconds(lambda learner=learner, batch=batch: learner.train_step(batch), repeats)
            forward = median_seconds(lambda learner=learner: learner.sequence_logprobs(samples), repeats)
            print(f"| {variant or 'defaults'} | {budget or '0 (16 sequences)'} | {str(share).lower()} | {learn:.3f} | "
                  f"{forward:.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "25m"], choices=list(SIZES))
    parser.add_argument("--steps", type=int, default=6, help="timed steps of our run (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each floor (after one warm-up)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="run every measurement this many times, odd rounds in reverse order (a drift of the host's "
                             "pace cancels out of the ratios over two rounds)")
    parser.add_argument("--staleness", type=int, nargs="*", default=[1],
                        help="also run ours with these train.max_staleness values (generation overlapped)")
    parser.add_argument("--variants", nargs="*", default=[],
                        help="also run ours with each of these overrides (e.g. learner.compute_dtype=bfloat16) and "
                             "compare it with TRL too (with --micro-batches: each variant's learner.* settings)")
    parser.add_argument("--trl", action=argparse.BooleanOptionalAction, default=True,
                        help="compare with TRL when it is installed (--no-trl: skip; its online DPO takes minutes)")
    parser.add_argument("--trl-bf16", action="store_true",
                        help="also run TRL with its bf16 setting (autocast; pays on a CPU with AVX512-BF16 or AMX)")
    parser.add_argument("--trl-no-checkpointing", action="store_true",
                        help="run TRL without gradient checkpointing (on in TRL's configs by default: every layer's "
                             "forward computed again in the backward pass)")
    parser.add_argument("--trl-compile", action="store_true",
                        help="run TRL with transformers' torch_compile setting (what learner.compile does for ours)")
    parser.add_argument("--micro-batches", action="store_true",
                        help="only compare fixed and token-budget micro-batches, and shared-prompt rows, in this process "
                             "(synthetic samples)")
    parser.add_argument("--prompt-tokens", type=int, nargs=2, default=[8, 40], metavar=("LOW", "HIGH"),
                        help="with --micro-batches: the synthetic prompts' lengths")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1024, 2048, 4096], metavar="TOKENS",
                        help="with --micro-batches: the learner.max_tokens_per_micro_batch values compared")
    args = parser.parse_args()
    from core.device import cpu_description

    print(cpu_description())
    with tempfile.TemporaryDirectory(prefix="bench-models-") as cache_dir:  # the models built for this run
        for size in args.sizes:
            if args.micro_batches:
                micro_batch_comparison(size, cache_dir, args.repeats, tuple(args.prompt_tokens), args.variants,
                                       args.budgets)
            else:
                measure(size, args, cache_dir)


def measure(size: str, args: argparse.Namespace, cache_dir: str) -> None:
    """Our run with each variant and staleness, the floors and TRL's trainers, interleaved over --rounds."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        results = interleaved(round_jobs(size, args, cache_dir, Path(folder)), args.rounds)
        report_rounds(size, args, results)
        print(f"({time.perf_counter() - started:.0f} s for this size)")


def round_jobs(size: str, args: argparse.Namespace, cache_dir: str, folder: Path) -> list[tuple[str, Callable]]:
    """One round's measurements by name: ours in float32 (first: the floors, float32 too, take the tokens and the
    model of its run), with each staleness, each variant on top of float32 (the default precision, auto:
    "learner.compute_dtype=auto model.dtype=auto"), the floors, TRL's trainers when it is installed."""
    with_trl = args.trl and importlib.util.find_spec("trl") is not None
    if args.trl and not with_trl:
        print("TRL is not installed (pip install -e .[bench]): no comparison with TRL")
    first, runs = folder / "run-0", itertools.count()

    def ours(overrides: tuple[str, ...]) -> Callable[[], dict]:
        return lambda: run_ours(size, args.steps, args.warmup, folder / f"run-{next(runs)}", cache_dir, overrides)

    jobs = [("float32", ours(FLOAT32))]
    jobs += [(f"train.max_staleness={k}", ours((*FLOAT32, f"train.max_staleness={k}"))) for k in args.staleness]
    jobs += [(variant, ours((*FLOAT32, *variant.split()))) for variant in args.variants]
    jobs.append(("floors", lambda: floors(model_path_of(first), step_samples(first, args.warmup + 1), args.repeats)))
    trl_runs = itertools.product(TRL_RUNS, (False, True) if args.trl_bf16 else (False,)) if with_trl else ()
    settings = (", no checkpointing" if args.trl_no_checkpointing else "") + (", compiled" if args.trl_compile else "")
    for (trainer, beta, what), in_bf16 in trl_runs:
        jobs.append((f"TRL {what}{', bf16' if in_bf16 else ''}{settings}",
                     lambda t=trainer, b=beta, bf=in_bf16: trl_job(first, args, t, b, bf)))
    return jobs


def report_rounds(size: str, args: argparse.Namespace, results: dict[str, list]) -> None:
    default = results["float32"]
    report(size, mean_of(default), mean_of(results["floors"]))
    for index, (run, floor) in enumerate(zip(default, results["floors"])):
        print(f"round {index + 1}: " + ", ".join(f"{p} {run[p]:.3f} s ({run[p] / floor[p]:.2f}x)" for p in FLOORED)
              + f", step {run['step']:.3f} s ({run['step'] / sum(floor[p] for p in FLOORED):.2f}x the sum of the floors)")
    for k in args.staleness:
        print(f"train.max_staleness={k}: " + ", ".join(
            f"{run['step']:.3f} s a step ({sync['step'] / run['step']:.2f}x the synchronous loop's; waiting for "
            f"generation {run['generate']:.3f} s, synchronous {sync['generate']:.3f})"
            for run, sync in zip(results[f"train.max_staleness={k}"], default)))
    for variant in args.variants:
        for run in results[variant]:
            print(f"ours with {variant}: " + ", ".join(f"{p} {run[p]:.3f}" for p in (*PHASES, "step")))
    trl = {name: runs for name, runs in results.items() if name.startswith("TRL ")}
    if trl:
        compare_trl({name: results[name] for name in ("float32", *args.variants)}, trl)


def trl_job(first_run: Path, args: argparse.Namespace, trainer: str, beta: float, bf16: bool) -> float:
    from bench.trl_baseline import trl_seconds

    return trl_seconds(model_path_of(first_run), args.steps, args.warmup, trainer, beta, bf16,
                       gradient_checkpointing=not args.trl_no_checkpointing, torch_compile=args.trl_compile)


if __name__ == "__main__":
    main()
