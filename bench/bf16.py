"""float32 against bfloat16 on this CPU, in one process: a matrix product of the 25M model's MLP shape, the
25M model's forward and forward+backward (the learner's and the reference scorer's work) under autocast, the
attention alone, and the forward+backward with the attention in float32 (what the learner runs in bfloat16).

    python bench/bf16.py [--repeats 5]

Prints a table of median milliseconds and the speed-up; bfloat16 pays where the CPU has AVX512-BF16 or AMX
(`grep -o 'avx512_bf16\\|amx_bf16' /proc/cpuinfo`). learner.compute_dtype and model.dtype use it in a run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.floors import llama_25m, median_seconds  # noqa: E402
from core.device import cpu_description  # noqa: E402
from learner.attention import FLOAT32_SDPA, use_float32_attention  # noqa: E402


def median_ms(work, repeats: int) -> float:
    return 1000 * median_seconds(work, repeats)


def attention_row(repeats: int) -> tuple[str, float, float]:
    """torch's sdpa forward and backward on shared-prompt rows' shapes (7 rows of 150 tokens, 8 heads of 64, a
    causal mask): its CPU flash-attention backward is the slow part in bfloat16 (learner/attention.py)."""
    mask = torch.ones(150, 150, dtype=torch.bool).tril().expand(7, 1, 150, 150)

    def timed(dtype):
        query, key, value = (torch.randn(7, 8, 150, 64, dtype=dtype, requires_grad=True) for _ in range(3))
        attend = torch.nn.functional.scaled_dot_product_attention
        return median_ms(lambda: attend(query, key, value, attn_mask=mask).sum().backward(), repeats)

    return "attention forward+backward, 7 x 150 tokens", timed(torch.float32), timed(torch.bfloat16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    activations, weight = torch.randn(64 * 48, 512), torch.randn(1376, 512)
    model, ids = llama_25m(), torch.randint(0, 320, (64, 48))

    def forward_backward():
        model(ids).logits.float().log_softmax(-1).mean().backward()

    def autocast(work):
        def run():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return work()
        return run

    activations16, weight16 = activations.bfloat16(), weight.bfloat16()
    rows = [("matmul 3072x512 @ 512x1376", lambda: activations @ weight.T, lambda: activations16 @ weight16.T)]
    with torch.no_grad():
        forward = lambda: model(ids)  # noqa: E731
        rows.append(("25M forward, 64 x 48 tokens", forward, autocast(forward)))
        measured = [(name, median_ms(f32, args.repeats), median_ms(bf16, args.repeats)) for name, f32, bf16 in rows]
    float32_step = median_ms(forward_backward, args.repeats)
    measured.append(("25M forward+backward", float32_step, median_ms(autocast(forward_backward), args.repeats)))
    measured.append(attention_row(args.repeats))
    use_float32_attention(model, torch.bfloat16)  # what the learner does under bfloat16 on a CPU
    assert model.config._attn_implementation == FLOAT32_SDPA, "the model did not switch to float32 attention"
    measured.append(("25M forward+backward, attention in float32", float32_step,
                     median_ms(autocast(forward_backward), args.repeats)))
    print(f"{cpu_description()}\ntorch {torch.__version__}, {torch.get_num_threads()} threads, median ms of {args.repeats}\n")
    print("| work | float32 ms | bfloat16 ms | speed-up |")
    print("|---|---|---|---|")
    for name, f32, bf16 in measured:
        print(f"| {name} | {f32:.1f} | {bf16:.1f} | {f32 / bf16:.2f}x |")


if __name__ == "__main__":
    main()
