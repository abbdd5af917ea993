"""A tiny reward model built locally: its own tokenizer and chat template, trained for a moment on
synthetic preferences (more of the letter "o" is better) so that it ranks something.

Its tokenizer is trained with another seed and vocabulary size than the policy's, so the oracle must
re-render the policy's conversations with the reward model's own template, as with real models.
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

import torch

from core.config import TinyModelConfig
from models.tiny import WORDS, _config_digest, build_once, train_tokenizer
from rewards.letter_share import letter_share

TRAIN_STEPS = 300


def build_tiny_reward_model(cfg: TinyModelConfig) -> Path:
    digest = _config_digest(dataclasses.replace(cfg, seed=cfg.seed + 1000))
    folder = Path(os.path.expanduser(cfg.cache_dir)) / f"reward-{digest}-{TRAIN_STEPS}"

    def write(staging: Path) -> None:
        tokenizer = train_tokenizer(cfg.vocab_size - 24, cfg.seed + 1000)
        model = _train(_model(cfg, tokenizer), tokenizer, cfg.seed)
        tokenizer.save_pretrained(staging)
        model.save_pretrained(staging, safe_serialization=True)

    return build_once(folder, write)


def synthetic_conversation(rng: random.Random, tokenizer) -> tuple[str, float]:
    """A rendered (prompt, response) conversation and its letter-"o" share."""
    words = rng.sample(WORDS, 2)
    response = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
    messages = [{"role": "user", "content": f"write about {words[0]} and {words[1]}."},
                {"role": "assistant", "content": response}]
    return tokenizer.apply_chat_template(messages, tokenize=False), letter_share(response, "o")


def _model(cfg: TinyModelConfig, tokenizer):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(cfg.seed + 1000)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                         num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                         num_key_value_heads=cfg.num_heads, max_position_embeddings=cfg.max_positions, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    return LlamaForSequenceClassification(config)


def _train(model, tokenizer, seed: int):
    """Bradley-Terry on pairs whose preferred side has the larger letter-"o" share."""
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(TRAIN_STEPS):
        pairs = [(synthetic_conversation(rng, tokenizer), synthetic_conversation(rng, tokenizer)) for _ in range(16)]
        pairs = [(a, b) if a[1] >= b[1] else (b, a) for a, b in pairs if a[1] != b[1]]
        chosen = tokenizer([a[0] for a, _ in pairs], return_tensors="pt", padding=True, add_special_tokens=False)
        rejected = tokenizer([b[0] for _, b in pairs], return_tensors="pt", padding=True, add_special_tokens=False)
        margin = model(**chosen).logits[:, 0] - model(**rejected).logits[:, 0]
        loss = -torch.nn.functional.logsigmoid(margin).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
