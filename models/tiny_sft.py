"""The toy task's supervised warm start: teach the tiny model to answer "write about X and Y." with
"X and Y." so that it has a skill to keep (the guard metric, rewards/guard.py) while it is aligned to
the toy reward, which pulls elsewhere (more of the letter "o"). Runs once, when the model is built."""

from __future__ import annotations

import random

import torch

from core.data import TOY_TOPICS
from learner.merging import soft_threshold

SFT_LR = 3e-3
SFT_BATCH = 32


def sft_example(tokenizer, first: str, second: str) -> tuple[list[int], list[int]]:
    """(prompt token ids in the chat template, response token ids ending with end-of-sequence)."""
    messages = [{"role": "user", "content": f"write about {first} and {second}."}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    response = tokenizer(f"{first} and {second}.", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return tokenizer(prompt, add_special_tokens=False)["input_ids"], response


def supervised_warm_start(model, tokenizer, steps: int, seed: int, l1: float = 0.0) -> float:
    """`steps` AdamW steps of next-token loss on the responses only; returns the last loss.

    l1 > 0 adds PAFT's L1 penalty l1 * |theta - theta_start|_1 as a proximal step after each AdamW step
    (soft-thresholding the change by lr * l1), which, unlike a penalty in the loss, leaves exact zeros:
    the SFT delta is sparse, and a merge need not trim it."""
    rng = random.Random(seed)
    start = [param.detach().clone() for param in model.parameters()] if l1 else []
    pairs = [(a, b) for a in TOY_TOPICS for b in TOY_TOPICS if a != b]
    optimizer = torch.optim.AdamW(model.parameters(), lr=SFT_LR)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        examples = [sft_example(tokenizer, a, b) for a, b in rng.sample(pairs, SFT_BATCH)]
        width = max(len(p) + len(r) for p, r in examples)
        ids = torch.full((len(examples), width), tokenizer.pad_token_id)
        labels = torch.full((len(examples), width), -100)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for row, (prompt, response) in enumerate(examples):
            tokens = prompt + response
            ids[row, : len(tokens)] = torch.tensor(tokens)
            labels[row, len(prompt) : len(tokens)] = torch.tensor(response)
            mask[row, : len(tokens)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if l1:
            with torch.no_grad():
                for param, origin in zip(model.parameters(), start):
                    param.copy_(origin + soft_threshold(param - origin, SFT_LR * l1))
    model.eval()
    return loss.item()
