"""A LoRA policy's adapter added into its base model's weights, as a Hugging Face folder vLLM and transformers load.

    python -m learner.merge_adapter --adapter RUN/checkpoints/iteration-N/adapter --out OUT [--base BASE]

BASE defaults to the model the adapter was trained on (its adapter_config.json's base_model_name_or_path). A
checkpoint folder of a LoRA run already holds the merged model beside its adapter/; this command merges any
adapter, e.g. one trained on a copy of the base that now lives elsewhere.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from learner.lora import ADAPTER_CONFIG


def merge_adapter(model_path: str, adapter_path: str, out: str | Path) -> Path:
    """The base with the adapter added into its weights (W + alpha / rank x B A), written to out."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, adapter_path).merge_and_unload()
    merged.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(model_path).save_pretrained(out)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", required=True, help="a PEFT adapter folder (a LoRA run's checkpoints/iteration-N/adapter)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--base", default="", help="the base model folder (default: the one the adapter names)")
    args = parser.parse_args(argv)
    config = Path(args.adapter) / ADAPTER_CONFIG
    if not config.is_file():
        parser.error(f"--adapter {args.adapter} is not a PEFT adapter folder (no {ADAPTER_CONFIG})")
    base = args.base or json.loads(config.read_text()).get("base_model_name_or_path") or ""
    if not Path(base).is_dir():
        parser.error(f"the base model {base!r} is not a folder here; pass --base with the model the adapter was trained on")
    print(f"merged model written to {merge_adapter(base, args.adapter, args.out)}")


if __name__ == "__main__":
    main()
