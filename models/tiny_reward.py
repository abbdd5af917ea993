"""A tiny reward model built locally: its own tokenizer and chat template, trained for a moment on
synthetic preferences so that it ranks something.

labels "letter_share" (the toy's): more of the letter "o" is better, fresh pairs every step.
labels "writing_gold" (the lab's Task B proxy): pairs of warm-start-like answers to "write about X and Y."
labelled by the hidden gold reward (tasks/writing.py), a fixed set of `pairs` of them, so the proxy is
imperfect, as a reward model trained on limited human labels is. Its agreement with the gold reward on
fresh pairs is measured once and kept in the folder (proxy.json).

Its tokenizer is trained with another seed and vocabulary size than the policy's, so the oracle must
re-render the policy's conversations with the reward model's own template, as with real models.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import torch

from core.config import TinyModelConfig
from learner.reward_model_training import PreferencePair, fit, pair_accuracy
from models.tiny import _config_digest, build_once, train_tokenizer
from rewards.letter_share import letter_share
from tasks import toy, writing

TRAIN_STEPS = 300
PAIRS_PER_STEP = 16
AGREEMENT_PAIRS = 1000  # fresh gold-labelled pairs the proxy's agreement is measured on

Conversation = tuple[list[dict[str, str]], float]  # (messages, the label's score)


def build_tiny_reward_model(cfg: TinyModelConfig, labels: str = "letter_share", pairs: int = 0) -> Path:
    digest = _config_digest(dataclasses.replace(cfg, seed=cfg.seed + 1000))
    suffix = f"{labels}-{pairs}-{TRAIN_STEPS}"
    folder = Path(os.path.expanduser(cfg.cache_dir)) / f"reward-{digest}-{suffix}"
    conversation = synthetic_conversation if labels == "letter_share" else gold_conversation

    def write(staging: Path) -> None:
        tokenizer = train_tokenizer(cfg.vocab_size - 24, cfg.seed + 1000, cfg.skills)
        model = _train(_model(cfg, tokenizer), tokenizer, _pair_stream(conversation, cfg.seed, pairs))
        tokenizer.save_pretrained(staging)
        model.save_pretrained(staging, safe_serialization=True)
        if labels == "writing_gold":
            agreement = gold_agreement(model, tokenizer, random.Random(cfg.seed + 7))
            (staging / "proxy.json").write_text(json.dumps({"labels": labels, "pairs": pairs,
                                                            "agreement_with_gold": agreement}))

    return build_once(folder, write)


def synthetic_conversation(rng: random.Random) -> Conversation:
    """A toy conversation and its letter-"o" share."""
    words = rng.sample(toy.WORDS, 2)
    response = " ".join(rng.choice(toy.WORDS) for _ in range(rng.randint(2, 8)))
    return _messages(toy.prompt(words[0], words[1]), response), letter_share(response, "o")


def gold_conversation(rng: random.Random) -> Conversation:
    """A warm-start-like answer to a writing prompt and its gold reward."""
    first, second = writing.topic_pair(rng)
    prompt, response = toy.prompt(first, second), writing.sample_response(rng, first, second)
    return _messages(prompt, response), writing.writing_gold(prompt, response)


def _messages(prompt: str, response: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def _pair_stream(conversation: Callable[[random.Random], Conversation], seed: int, pairs: int):
    """Endless (preferred, other) pairs, ties dropped: fresh ones (pairs == 0) or drawn from a fixed set."""
    rng = random.Random(seed)

    def fresh():
        while True:
            a, b = conversation(rng), conversation(rng)
            if a[1] != b[1]:
                return (a, b) if a[1] > b[1] else (b, a)

    fixed = [fresh() for _ in range(pairs)]
    while True:
        yield rng.choice(fixed) if fixed else fresh()


def _model(cfg: TinyModelConfig, tokenizer):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(cfg.seed + 1000)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                         num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                         num_key_value_heads=cfg.num_heads, max_position_embeddings=cfg.max_positions, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    return LlamaForSequenceClassification(config)


def _train(model, tokenizer, pairs):
    """Bradley-Terry (learner/reward_model_training.py, what `una-align train-rm` runs), PAIRS_PER_STEP pairs a step."""
    fit(model, tokenizer, (_hard_labels(pairs, PAIRS_PER_STEP) for _ in range(TRAIN_STEPS)), lr=2e-3)
    return model


def _hard_labels(pairs, count: int) -> list[PreferencePair]:
    """The next `count` (preferred, other) pairs, each preferred with probability 1."""
    return [(a[0], b[0], 1.0) for a, b in (next(pairs) for _ in range(count))]


@torch.no_grad()
def gold_agreement(model, tokenizer, rng: random.Random) -> float:
    """Share of fresh gold-labelled pairs (ties dropped) that the proxy orders as the gold reward does."""
    stream = _pair_stream(gold_conversation, rng.randrange(2**31), 0)
    return round(pair_accuracy(model, tokenizer, _hard_labels(stream, AGREEMENT_PAIRS), batch=AGREEMENT_PAIRS), 4)
