"""Train a Bradley-Terry reward model from preference pairs: distilled RLAIF (a judge's labels into a reward model,
Lee et al.) or RLHF's reward model from human labels.

    una-align train-rm DATA --base MODEL_FOLDER --out FOLDER [--epochs 2] [--lr 1e-4] [--batch-size 16]
                       [--held-out 0.1] [--seed 0] [--max-tokens 512]

DATA: prompt / chosen / rejected rows (TRL's preference format, text or conversations: `una-align export`'s pairs,
a judge-labelled file, any preference data set) as a .jsonl / .parquet file or a datasets folder. An optional
`preference` column in [0, 1] is a soft label, P(chosen is better) (a judge's probability, both orders averaged);
without it a row says 1, and a row with `tie: true` 0.5 (rewards/preference_pairs.py).
The loss is Bradley-Terry's with soft labels, -[p log sigmoid(r_c - r_r) + (1 - p) log sigmoid(r_r - r_c)].
MODEL_FOLDER: a causal LM or sequence classifier (transformers); a causal LM gets a fresh one-output head.
FOLDER: the trained model and its tokenizer (what reward.kind reward_model with reward.model_path loads) and
train_rm.json: the data, the steps, the loss and the held-out pair accuracy.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from core.records import LabelledPair
from rewards.reward_model import render_conversation

Conversation = list[dict[str, str]]
PreferencePair = tuple[Conversation, Conversation, float]  # (chosen, rejected, P(chosen is better))


def conversations(pair: LabelledPair) -> tuple[Conversation, Conversation]:
    prompt = {"role": "user", "content": pair.prompt}
    return ([prompt, {"role": "assistant", "content": pair.chosen}],
            [prompt, {"role": "assistant", "content": pair.rejected}])


def scores(model, tokenizer, batch: list[Conversation], max_tokens: int = 512) -> torch.Tensor:
    texts = [render_conversation(tokenizer, c) for c in batch]
    inputs = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_tokens,
                       add_special_tokens=False)
    return model(**inputs.to(model.device)).logits[:, 0]


def pair_margins(model, tokenizer, batch: list[PreferencePair], max_tokens: int = 512) -> torch.Tensor:
    """r(chosen) - r(rejected) for each pair (chosen and rejected scored in two passes)."""
    return (scores(model, tokenizer, [c for c, _, _ in batch], max_tokens)
            - scores(model, tokenizer, [r for _, r, _ in batch], max_tokens))


def bradley_terry_loss(margins: torch.Tensor, preferences: torch.Tensor) -> torch.Tensor:
    """-[p log sigmoid(m) + (1 - p) log sigmoid(-m)], the mean over pairs."""
    logsigmoid = torch.nn.functional.logsigmoid
    return -(preferences * logsigmoid(margins) + (1 - preferences) * logsigmoid(-margins)).mean()


def fit(model, tokenizer, batches: Iterable[list[PreferencePair]], lr: float, max_tokens: int = 512,
        progress: bool = False) -> list[float]:
    """AdamW on each batch in turn; the model is left in eval mode. Returns each step's loss."""
    from tqdm import tqdm

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    losses = []
    for batch in tqdm(batches, desc="reward model", unit="step", disable=not progress):
        preferences = torch.tensor([p for _, _, p in batch], device=model.device)
        loss = bradley_terry_loss(pair_margins(model, tokenizer, batch, max_tokens), preferences)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def pair_accuracy(model, tokenizer, pairs: list[PreferencePair], max_tokens: int = 512, batch: int = 64) -> float | None:
    """Share of the pairs with a preferred side (p != 0.5) that the model orders as the label does."""
    decided = [pair for pair in pairs if pair[2] != 0.5]
    right = 0
    for start in range(0, len(decided), batch):
        part = decided[start:start + batch]
        margins = pair_margins(model, tokenizer, part, max_tokens)
        right += sum((m > 0) == (p > 0.5) for m, (_, _, p) in zip(margins.tolist(), part))
    return right / len(decided) if decided else None


def train_reward_model(data: str, base: str, out: Path, epochs: int = 2, lr: float = 1e-4, batch_size: int = 16,
                       held_out: float = 0.1, seed: int = 0, max_tokens: int = 512) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from core.device import compute_device
    from rewards.preference_pairs import load_preference_pairs

    pairs = [(*conversations(pair), p) for pair, p in load_preference_pairs(data, "train-rm DATA")]
    random.Random(seed).shuffle(pairs)
    cut = round(len(pairs) * held_out) if len(pairs) > 1 else 0
    evaluation, training = pairs[:cut], pairs[cut:]
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.to(compute_device())
    started = time.perf_counter()
    order = random.Random(seed + 1)
    batches = [shuffled[i:i + batch_size] for shuffled in (order.sample(training, len(training)) for _ in range(epochs))
               for i in range(0, len(training), batch_size)]
    losses = fit(model, tokenizer, batches, lr, max_tokens, progress=True)
    report = {"data": data, "base": base, "pairs": len(pairs), "training_pairs": len(training),
              "held_out_pairs": len(evaluation), "epochs": epochs, "lr": lr, "batch_size": batch_size, "steps": len(losses),
              "last_loss": losses[-1] if losses else None, "seconds": round(time.perf_counter() - started, 1),
              "held_out_accuracy": pair_accuracy(model, tokenizer, evaluation, max_tokens),
              "training_accuracy": pair_accuracy(model, tokenizer, training[:1024], max_tokens)}
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "train_rm.json").write_text(json.dumps(report, indent=2))
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="una-align train-rm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="a .jsonl / .parquet file or datasets folder of prompt, chosen, rejected rows")
    parser.add_argument("--base", required=True, help="the model folder to start from (a causal LM or classifier)")
    parser.add_argument("--out", type=Path, required=True, help="the reward model's folder (written)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--held-out", type=float, default=0.1, help="the share of pairs kept out to measure accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=512, help="longer conversations are cut to this")
    args = parser.parse_args(argv)
    from core.config import ConfigError
    from core.data import DataError
    from core.model_folder import check_model_folder

    try:
        check_model_folder(args.base, "train-rm --base")
        report = train_reward_model(args.data, args.base, args.out, args.epochs, args.lr, args.batch_size,
                                    args.held_out, args.seed, args.max_tokens)
    except (DataError, ConfigError) as err:
        sys.exit(f"error: {err}")
    accuracy = report["held_out_accuracy"]
    print(f"wrote {args.out}: {report['steps']} steps on {report['training_pairs']} pairs in {report['seconds']} s; "
          f"held-out pair accuracy {'n/a' if accuracy is None else f'{accuracy:.3f}'} on {report['held_out_pairs']} pairs "
          f"(train_rm.json); use it with reward.kind=reward_model reward.model_path={args.out}")


if __name__ == "__main__":
    main()
