"""AdamW's kernels on the 25M model's parameters, in one process: torch's for-each kernel (its default, what a
DeepSpeed user gets) against the fused one the learner uses (learner/optimizer.py; transformers' default since
torch 2.8), and how far apart their updates end.

    python bench/optimizer.py [--repeats 10] [--warmup 3]

Prints a table of median milliseconds an optimizer step, each kernel timed twice, alternating.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.floors import llama_25m, median_seconds  # noqa: E402
from core.device import cpu_description  # noqa: E402


def parameters_25m() -> list[torch.nn.Parameter]:
    """The 25M model's parameters (bench/floors.llama_25m), with random gradients."""
    torch.manual_seed(0)
    parameters = list(llama_25m().parameters())
    for p in parameters:
        p.grad = torch.randn_like(p)
    return parameters


def step_ms(parameters: list[torch.nn.Parameter], fused: bool, repeats: int, warmup: int) -> tuple[float, list]:
    copies = [torch.nn.Parameter(p.detach().clone()) for p in parameters]
    for copy, p in zip(copies, parameters):
        copy.grad = p.grad
    optimizer = torch.optim.AdamW(copies, lr=1e-3, fused=fused)
    return median_seconds(optimizer.step, repeats, warmup) * 1000, copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    parameters = parameters_25m()
    count = sum(p.numel() for p in parameters) / 1e6
    timed: dict[bool, list[float]] = {False: [], True: []}
    updated = {}
    for fused in (False, True, False, True):
        milliseconds, updated[fused] = step_ms(parameters, fused, args.repeats, args.warmup)
        timed[fused].append(milliseconds)
    gap = max(float((a - b).detach().abs().max()) for a, b in zip(updated[False], updated[True]))
    print(f"{cpu_description()}\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {count:.1f}M "
          f"parameters, median ms of {args.repeats} steps after {args.warmup}\n")
    print("| AdamW kernel | ms a step, first | second |")
    print("|---|---|---|")
    for fused, name in ((False, "for-each (torch's default)"), (True, "fused (the learner's)")):
        print(f"| {name} | {timed[fused][0]:.1f} | {timed[fused][1]:.1f} |")
    print(f"\nlargest difference between the two kernels' weights after {args.warmup + args.repeats} steps: {gap:.2e}")


if __name__ == "__main__":
    main()
