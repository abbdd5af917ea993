"""Parallel train, then merge (PAFT): base + merge(sparse SFT delta, aligned delta), as a new model.

    python -m learner.merge_models --base BASE --sft SFT --aligned ALIGNED --out OUT \\
        [--method ties|task_arithmetic] [--density 0.2] [--weights 1.0 1.0]

BASE, SFT and ALIGNED are Hugging Face folders of the same architecture; SFT and ALIGNED were both
trained from BASE (in parallel). The SFT delta is trimmed to its top `density` fraction by magnitude
(PAFT trains it sparse with an L1 penalty, as the tiny model's warm start does with model.tiny.sft_l1;
such a delta sparser than `density` is kept whole), then merged with the aligned delta by TIES (trim,
elect sign, disjoint mean) or task arithmetic (weighted sum).
OUT is a Hugging Face folder (weights, config, the aligned model's tokenizer) that transformers and
vLLM load.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from learner.merging import task_arithmetic, ties_merge, trim_to_top
from learner.weights import load_model_weights


def merge_state_dicts(base: dict[str, torch.Tensor], sft: dict[str, torch.Tensor], aligned: dict[str, torch.Tensor],
                      method: str, density: float, weights: tuple[float, float] = (1.0, 1.0)) -> dict[str, torch.Tensor]:
    for name, other in (("sft", sft), ("aligned", aligned)):
        if set(other) != set(base):
            raise ValueError(f"the {name} model's tensors differ from the base model's: "
                             f"{sorted(set(other) ^ set(base))[:3]} ...")
    merged = {}
    for name, b in base.items():
        if sft[name].shape != b.shape or aligned[name].shape != b.shape:
            raise ValueError(f"tensor {name}: shapes {tuple(b.shape)} (base), {tuple(sft[name].shape)} (sft), "
                             f"{tuple(aligned[name].shape)} (aligned) differ")
        if not b.is_floating_point():
            merged[name] = b.clone()
            continue
        sft_delta, aligned_delta = trim_to_top(sft[name] - b, density), aligned[name] - b
        if method == "ties":
            delta = ties_merge([sft_delta, aligned_delta], density)
        elif method == "task_arithmetic":
            delta = task_arithmetic([sft_delta, aligned_delta], list(weights))
        else:
            raise ValueError(f"merge method {method!r} is not known; use ties or task_arithmetic")
        merged[name] = b + delta
    return merged


def merge_models(base: str, sft: str, aligned: str, out: str, method: str = "ties", density: float = 0.2,
                 weights: tuple[float, float] = (1.0, 1.0)) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(aligned, dtype=torch.float32)
    base_w, sft_w, aligned_w = (load_model_weights(path) for path in (base, sft, aligned))
    model.load_state_dict(merge_state_dicts(base_w, sft_w, aligned_w, method, density, weights))
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(aligned).save_pretrained(out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True)
    parser.add_argument("--sft", required=True)
    parser.add_argument("--aligned", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--method", choices=["ties", "task_arithmetic"], default="ties")
    parser.add_argument("--density", type=float, default=0.2, help="fraction of the SFT delta kept (and TIES's trim)")
    parser.add_argument("--weights", type=float, nargs=2, default=[1.0, 1.0], help="task arithmetic: SFT, aligned")
    args = parser.parse_args(argv)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a file; give a folder for the merged model")
    out = merge_models(args.base, args.sft, args.aligned, args.out, args.method, args.density, tuple(args.weights))
    print(f"merged model written to {out}")


if __name__ == "__main__":
    main()
