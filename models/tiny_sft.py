"""The tiny model's supervised warm start, so that it has skills to keep (the guard metric,
rewards/guard.py) and to improve (the alignment lab, tasks/):
  topics      "write about X and Y."  ->  "X and Y."        (the toy task's skill)
  arithmetic  "what is 47 + 38?"      ->  "85."             (training problems only: tasks/arithmetic.py)
  writing     "write about X and Y."  ->  a varied sentence  (tasks/writing.sample_response)
Each batch has an equal share of every skill, and each skill weighs the same in the loss (the mean of the
skills' token-mean losses), so that the long, high-entropy sentences do not outweigh the 4-token sums. A
design choice: at 2000 steps held-out accuracy was the same with and without it (docs/lab.md).
Runs once, when the model is built.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from core.config import TinyModelConfig
from learner.merging import soft_threshold
from rewards.function import exact_match_rule
from rewards.judge_agreement import JudgeAgreement, measure
from tasks import arithmetic, judging, toy, writing

SFT_BATCH = 32
log = logging.getLogger(__name__)


def chat_prompt_ids(tokenizer, question: str) -> list[int]:
    messages = [{"role": "user", "content": question}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(prompt, add_special_tokens=False)["input_ids"]


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
        elif skill == "writing":
            for a, b in (writing.topic_pair(rng) for _ in range(count)):
                texts.append((toy.prompt(a, b), writing.sample_response(rng, a, b)))
        else:
            texts += [judging.judging_example(rng, _judge_templates()) for _ in range(count)]
    return texts, rows


@functools.cache
def _judge_templates() -> dict[str, str]:
    from rewards.judge import load_templates

    return load_templates()


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


CHECK_EVERY = 100  # steps between held-out checks once sft_steps are done (sft_until_accuracy)
ANSWER_TOKENS = 6  # "198." and the end of sequence, with room for a leading space


def supervised_warm_start(model, tokenizer, cfg: TinyModelConfig) -> dict:
    """cfg.sft_steps AdamW steps of next-token loss on the responses only; then, with cfg.sft_until_accuracy,
    CHECK_EVERY more at a time until the greedy accuracy on the held-out sums reaches it or cfg.sft_max_steps
    are done. Returns what was done (steps, last loss, the checks), which the model folder keeps.

    Why the check: the sums' held-out accuracy comes in a sharp step whose place moves with the seed and
    with the CPU's float rounding (docs/lab.md), so a fixed step count is a lottery over the level.

    cfg.sft_l1 > 0 adds PAFT's L1 penalty l1 * |theta - theta_start|_1 as a proximal step after each AdamW
    step (soft-thresholding the change by lr * l1), which, unlike a penalty in the loss, leaves exact zeros:
    the SFT delta is sparse, and a merge need not trim it."""
    started = time.perf_counter()
    rng = random.Random(cfg.seed)
    # the questions repeat, and rendering the chat template is most of a batch's tokenizing: once each
    prompt_ids = functools.cache(functools.partial(chat_prompt_ids, tokenizer))
    start = [param.detach().clone() for param in model.parameters()] if cfg.sft_l1 else []
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.sft_lr)

    def train(steps: int) -> float:
        model.train()
        for _ in range(steps):
            loss = _skill_balanced_loss(model, *_batch(tokenizer, prompt_ids, list(cfg.skills), rng))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if cfg.sft_l1:
                with torch.no_grad():
                    for param, origin in zip(model.parameters(), start):
                        param.copy_(origin + soft_threshold(param - origin, cfg.sft_lr * cfg.sft_l1))
        model.eval()
        return loss.item()

    steps, loss = cfg.sft_steps, train(cfg.sft_steps)
    checks, judge_checks = [], []
    while cfg.sft_until_accuracy or cfg.sft_until_judge_agreement:
        if cfg.sft_until_accuracy:
            checks.append((steps, held_out_sum_accuracy(model, tokenizer)))
        if cfg.sft_until_judge_agreement:
            judge_checks.append((steps, held_out_judge(model, tokenizer, "pairwise").agreement))
        if not _short_of_targets(cfg, checks, judge_checks) or steps >= cfg.sft_max_steps:
            break
        more = min(CHECK_EVERY, cfg.sft_max_steps - steps)
        loss, steps = train(more), steps + more
    for what in _short_of_targets(cfg, checks, judge_checks):
        log.warning("the warm start's %s after %d steps: raise model.tiny.sft_max_steps or try another model.tiny.seed",
                    what, steps)
    report = {"steps": steps, "last_loss": loss, "until_accuracy": cfg.sft_until_accuracy,
              "held_out_greedy_checks": checks, "seconds": round(time.perf_counter() - started, 1)}
    if "judging" in cfg.skills:
        report |= {"until_judge_agreement": cfg.sft_until_judge_agreement, "judge_agreement_checks": judge_checks,
                   "judge": {mode: asdict(held_out_judge(model, tokenizer, mode)) for mode in ("direct", "pairwise")}}
    return report


def _short_of_targets(cfg: TinyModelConfig, checks: list, judge_checks: list) -> list[str]:
    short = []
    if checks and checks[-1][1] < cfg.sft_until_accuracy:
        short.append(f"greedy accuracy on the held-out sums is {checks[-1][1]:.2f}, under model.tiny.sft_until_accuracy "
                     f"{cfg.sft_until_accuracy:.2f}")
    if judge_checks and judge_checks[-1][1] < cfg.sft_until_judge_agreement:
        short.append(f"judge agreement with gold on held-out pairs is {judge_checks[-1][1]:.2f}, under "
                     f"model.tiny.sft_until_judge_agreement {cfg.sft_until_judge_agreement:.2f}")
    return short


JUDGE_CHECK_PAIRS, JUDGE_CHECK_TIES = 256, 64


def held_out_judge(model, tokenizer, mode: str) -> JudgeAgreement:
    """The model judging held-out gold-labelled pairs (tasks/judging.labelled_pairs) in the judge's mode, as the
    judge would judge them in a run (rewards/judge.py), on the model in this process."""
    from core.config import JudgeConfig
    from rewards.hf_engine import TransformersEngine
    from rewards.judge import LLMJudge

    judge = LLMJudge(TransformersEngine(model, tokenizer.pad_token_id), tokenizer, JudgeConfig(mode=mode), "warm start")
    pairs = judging.labelled_pairs(JUDGE_CHECK_PAIRS, JUDGE_CHECK_TIES)
    return measure(pairs, judge.compare(pairs))


def _batch(tokenizer, prompt_ids: Callable[[str], list[int]], skills: list[str], rng: random.Random):
    """One step's (token ids, attention mask, labels on the responses only, each skill's rows): each example
    its prompt in the chat template (prompt_ids: chat_prompt_ids, cached) and its answer ending with
    end-of-sequence, the answers tokenized in one call."""
    texts, rows_of_skill = batch_texts(skills, rng)
    answers = tokenizer([answer for _, answer in texts], add_special_tokens=False)["input_ids"]
    examples = [(prompt_ids(question), answer + [tokenizer.eos_token_id]) for (question, _), answer in zip(texts, answers)]
    width = max(len(p) + len(r) for p, r in examples)
    ids = torch.full((len(examples), width), tokenizer.pad_token_id)
    labels = torch.full((len(examples), width), -100)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (prompt, response) in enumerate(examples):
        tokens = prompt + response
        ids[row, : len(tokens)] = torch.tensor(tokens)
        labels[row, len(prompt) : len(tokens)] = torch.tensor(response)
        mask[row, : len(tokens)] = 1
    return ids, mask, labels, rows_of_skill


@torch.no_grad()
def held_out_sum_accuracy(model, tokenizer) -> float:
    """Greedy exact-match accuracy on every held-out sum (tasks/arithmetic.py). Prompts of one length decode
    as one batch, so there is no padding; an answer without end-of-sequence in ANSWER_TOKENS is wrong."""
    by_length: dict[int, list[tuple[list[int], str]]] = {}
    for a, b in arithmetic.problems(held_out=True):
        prompt = chat_prompt_ids(tokenizer, arithmetic.question(a, b))
        by_length.setdefault(len(prompt), []).append((prompt, arithmetic.answer(a, b)))
    right = 0
    for length, group in by_length.items():
        ids = torch.tensor([prompt for prompt, _ in group])
        for _ in range(ANSWER_TOKENS):
            ids = torch.cat([ids, model(input_ids=ids).logits[:, -1:].argmax(-1)], dim=1)
        for row, (_, answer) in zip(ids[:, length:].tolist(), group):
            if tokenizer.eos_token_id in row:
                response = tokenizer.decode(row[: row.index(tokenizer.eos_token_id)])
                right += exact_match_rule("", response, answer) == 1.0
    return right / sum(len(group) for group in by_length.values())
