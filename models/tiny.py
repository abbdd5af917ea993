"""A tiny Llama-style causal LM with a locally trained tokenizer and a chat template.

Nothing is downloaded: the tokenizer is trained in a second on a synthetic corpus, the weights are
random (seeded). The result is a Hugging Face folder that transformers and vLLM both load, cached
on disk under a name derived from the config, written atomically (temporary folder, then rename).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.config import TinyModelConfig
from tasks import toy

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
FORMAT_VERSION = 1  # bump when the files this module writes change
WARM_START_FILE = "warm_start.json"  # what the supervised warm start did: its steps and held-out checks


def build_tiny_model(cfg: TinyModelConfig) -> Path:
    """Return the folder of the tiny model for this config, building it once."""
    folder = Path(os.path.expanduser(cfg.cache_dir)) / f"llama-{_config_digest(cfg)}"

    def write(staging: Path) -> None:
        tokenizer = train_tokenizer(cfg.vocab_size, cfg.seed, cfg.skills)
        tokenizer.save_pretrained(staging)
        model = _random_model(cfg, tokenizer)
        if cfg.sft_steps:
            from models.tiny_sft import supervised_warm_start

            report = supervised_warm_start(model, tokenizer, cfg)
            (staging / WARM_START_FILE).write_text(json.dumps(report))
        model.save_pretrained(staging, safe_serialization=True)

    return build_once(folder, write)


def build_once(folder: Path, write: Callable[[Path], None]) -> Path:
    """Write a model folder once: into a temporary folder beside it, then an atomic rename, so a reader
    never sees half a model (a concurrent builder's identical result may already be there)."""
    if (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        write(staging)
        os.replace(staging, folder)
    except OSError:
        if not (folder / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def train_tokenizer(vocab_size: int, seed: int, skills: list[str] = ("topics",)):
    """A BPE tokenizer over lowercase text, with chat special tokens and a chat template. With the arithmetic
    skill every digit is a token of its own (numbers are not merged), which makes sums learnable."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace()
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-:")
    if "arithmetic" in skills:
        bpe.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(),
                                                     pre_tokenizers.Digits(individual_digits=True)])
        alphabet += ["+", "="]
    bpe.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=alphabet, show_progress=False
    )
    bpe.train_from_iterator(_corpus(seed, skills), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _corpus(seed: int, skills: list[str]) -> list[str]:
    rng = random.Random(seed)
    lines = [toy.prompt(a, b) for a in toy.WORDS for b in toy.WORDS]
    lines += [" ".join(rng.choice(toy.WORDS) for _ in range(8)) for _ in range(2000)]
    if "arithmetic" in skills:
        from tasks import arithmetic

        lines += [f"{arithmetic.question(a, b)} {arithmetic.answer(a, b)}." for a, b in arithmetic.problems(False)[::10]]
    if "writing" in skills:
        from tasks import writing

        lines += [writing.sample_response(rng, *writing.topic_pair(rng)) for _ in range(2000)]
    if "judging" in skills:
        from rewards.judge import load_templates
        from tasks import judging

        templates = load_templates()
        lines += [" ".join(judging.judging_example(rng, templates)) for _ in range(2000)]
    return lines


def _random_model(cfg: TinyModelConfig, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    head_dim = cfg.hidden_size // cfg.num_heads
    if head_dim < 64 or cfg.hidden_size % cfg.num_heads:
        raise ValueError(
            f"model.tiny: hidden_size {cfg.hidden_size} / num_heads {cfg.num_heads} gives head size {head_dim}; "
            "vLLM's CPU attention needs a whole head size of at least 64 (e.g. hidden_size 128, num_heads 2)"
        )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        head_dim=head_dim,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def _config_digest(cfg: TinyModelConfig) -> str:
    fields = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "cache_dir"}
    if not cfg.sft_steps:  # no warm start: its penalty and learning rate do not change the model
        del fields["sft_l1"], fields["sft_lr"]
    if not cfg.sft_until_judge_agreement:  # no judging check: the folder names of before stay valid
        del fields["sft_until_judge_agreement"]
    if not cfg.sft_steps or not (cfg.sft_until_accuracy or cfg.sft_until_judge_agreement):
        del fields["sft_until_accuracy"], fields["sft_max_steps"]
    fields["format"] = FORMAT_VERSION
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
