"""vLLM alone on a step's prompts: eager against compiled (rollout.enforce_eager), float32 against bfloat16
(model.dtype), each in a process of its own, alternated over --rounds.

    python bench/generation.py [--size 25m] [--rounds 2] [--repeats 5]

Prints a table of median seconds per generate call (16 prompts x 4 samples of up to 32 tokens, with the
sampled tokens' log-probs, as the rollout engine asks) and compiled's speed-up. Compiling costs start-up time
(vLLM's log says how long; docs/throughput.md gives it), not counted here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.floors import synthetic_samples, vllm_generate_seconds  # noqa: E402
from bench.throughput import SIZES, model_shape  # noqa: E402
from core.config import TinyModelConfig  # noqa: E402
from core.device import cpu_description  # noqa: E402
from models.tiny import build_tiny_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="25m", choices=list(SIZES))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    samples = synthetic_samples(64, (8, 40), 32, vocab=200)
    seconds: dict[tuple[str, bool], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-models-") as cache_dir:
        path = str(build_tiny_model(TinyModelConfig(cache_dir=cache_dir, **model_shape(args.size))))
        for _ in range(args.rounds):
            for dtype in ("float32", "bfloat16"):
                for eager in (True, False):
                    took = vllm_generate_seconds(path, samples, args.repeats, dtype=dtype, enforce_eager=eager)
                    seconds.setdefault((dtype, eager), []).append(took)
    print(f"{cpu_description()}\n{args.size}, median seconds of {args.repeats} calls, one process per row and round\n")
    print("| model.dtype | eager (rounds) | compiled (rounds) | compiled's speed-up |")
    print("|---|---|---|---|")
    for dtype in ("float32", "bfloat16"):
        eager, compiled = seconds[(dtype, True)], seconds[(dtype, False)]
        print(f"| {dtype} | {', '.join(f'{s:.3f}' for s in eager)} | {', '.join(f'{s:.3f}' for s in compiled)} | "
              f"{statistics.mean(eager) / statistics.mean(compiled):.2f}x |")


if __name__ == "__main__":
    main()
