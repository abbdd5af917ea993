"""The tiny model's supervised warm start, so that it has skills to keep (the guard metric,
rewards/guard.py) and to improve (the alignment lab, tasks/):
  topics      "write about X and Y."  ->  "X and Y."        (the toy task's skill)
  arithmetic  "what is 47 + 38?"      ->  "85."             (training problems only: tasks/arithmetic.py)
  writing     "write about X and Y."  ->  a varied sentence  (tasks/writing.sample_response)
Each batch has an equal share of every skill, and each skill weighs the same in the loss (the mean of the
skills' token-mean losses), so that the long, high-entropy sentences do not outweigh the 4-token sums. A
design choice: at 2000 steps held-out accuracy was the same with and without it (README, the lab).
Runs once, when the model is built.
"""

from __future__ import annotations

import random

import torch

from learner.merging import soft_threshold
from tasks import arithmetic, toy, writing

SFT_BATCH = 32


def sft_example(tokenizer, question: str, answer: str) -> tuple[list[int], list[int]]:
    """(prompt token ids in the chat template, response token ids ending with end-of-sequence)."""
    messages = [{"role": "user", "content": question}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    response = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return tokenizer(prompt, add_special_tokens=False)["input_ids"], response


def batch_texts(skills: list[str], rng: random.Random) -> tuple[list[tuple[str, str]], list[slice]]:
    """SFT_BATCH (question, answer) text pairs, an equal share per skill, and each skill's rows (the toy's
    topics drawn as they always were, so the toy's warm-started model stays the same)."""
    counts = [SFT_BATCH // len(skills) + (i < SFT_BATCH % len(skills)) for i in range(len(skills))]
    texts, rows = [], []
    for skill, count in zip(skills, counts):
        rows.append(slice(len(texts), len(texts) + count))
        if skill == "topics":
            texts += [(toy.prompt(a, b), f"{a} and {b}.") for a, b in rng.sample(_TOPIC_PAIRS, count)]
        elif skill == "arithmetic":
            texts += [(arithmetic.question(a, b), f"{arithmetic.answer(a, b)}.")
                      for a, b in (rng.choice(_TRAINING_PROBLEMS) for _ in range(count))]
        else:
            for a, b in (writing.topic_pair(rng) for _ in range(count)):
                texts.append((toy.prompt(a, b), writing.sample_response(rng, a, b)))
    return texts, rows


def _skill_balanced_loss(model, ids, mask, labels, rows_of_skill: list[slice]):
    """The mean over skills of each skill's token-mean next-token loss (one skill: the model's own loss)."""
    if len(rows_of_skill) == 1:
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    targets = labels[:, 1:]
    token_loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="none")
    valid = (targets != -100).float()
    per_skill = [(token_loss[rows] * valid[rows]).sum() / valid[rows].sum() for rows in rows_of_skill]
    return sum(per_skill) / len(per_skill)


_TOPIC_PAIRS = toy.topic_pairs()
_TRAINING_PROBLEMS = arithmetic.problems(held_out=False)


def supervised_warm_start(model, tokenizer, steps: int, seed: int, lr: float = 3e-3, l1: float = 0.0,
                          skills: list[str] = ("topics",)) -> float:
    """`steps` AdamW steps of next-token loss on the responses only; returns the last loss.

    l1 > 0 adds PAFT's L1 penalty l1 * |theta - theta_start|_1 as a proximal step after each AdamW step
    (soft-thresholding the change by lr * l1), which, unlike a penalty in the loss, leaves exact zeros:
    the SFT delta is sparse, and a merge need not trim it."""
    rng = random.Random(seed)
    start = [param.detach().clone() for param in model.parameters()] if l1 else []
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        texts, rows_of_skill = batch_texts(list(skills), rng)
        examples = [sft_example(tokenizer, question, answer) for question, answer in texts]
        width = max(len(p) + len(r) for p, r in examples)
        ids = torch.full((len(examples), width), tokenizer.pad_token_id)
        labels = torch.full((len(examples), width), -100)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for row, (prompt, response) in enumerate(examples):
            tokens = prompt + response
            ids[row, : len(tokens)] = torch.tensor(tokens)
            labels[row, len(prompt) : len(tokens)] = torch.tensor(response)
            mask[row, : len(tokens)] = 1
        loss = _skill_balanced_loss(model, ids, mask, labels, rows_of_skill)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if l1:
            with torch.no_grad():
                for param, origin in zip(model.parameters(), start):
                    param.copy_(origin + soft_threshold(param - origin, lr * l1))
    model.eval()
    return loss.item()
