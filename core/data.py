"""Prompt data sets: the built-in tasks' (the toy, the lab's arithmetic), or a user's local JSON-lines,
Parquet or saved `datasets` folder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from core.config import DataConfig
from core.records import Prompt
from tasks import arithmetic, toy

log = logging.getLogger(__name__)

class DataError(ValueError):
    """A problem with the user's prompt data; the message names the file and the field."""


ARITHMETIC_GUARD_PROBLEMS = 64  # stopping.guard arithmetic: held-out sums answered greedily at every evaluation


@dataclass
class PromptSets:
    train: list[Prompt]
    eval: list[Prompt]
    skipped: Counter = field(default_factory=Counter)  # reason -> count, over both splits
    guard: list[Prompt] = field(default_factory=list)  # a guard task's own prompts (stopping.guard arithmetic)

    @cached_property
    def digest(self) -> str:
        """A fingerprint of every prompt and answer, in order: a resumed run must see the same data (computed
        once: the sets are not changed after loading)."""
        hasher = hashlib.sha256()
        for name, prompts in (("train", self.train), ("eval", self.eval), ("guard", self.guard)):
            for p in prompts:
                hasher.update(json.dumps([name, p.prompt_id, p.text, p.answer]).encode())
        return hasher.hexdigest()[:16]


def load_prompts(cfg: DataConfig, tokenizer, seed: int, guard: str = "none") -> PromptSets:
    """guard: stopping.guard; "arithmetic" adds its held-out problems as the guard's prompts."""
    if cfg.source == "toy":
        train_rows, eval_rows = _toy_rows(cfg, seed)
    elif cfg.source == "arithmetic":
        train_rows, eval_rows = _arithmetic_rows(cfg, seed)
    else:
        train_rows, eval_rows = _user_rows(cfg, seed)
    skipped: Counter = Counter()
    sets = PromptSets(
        train=_to_prompts(train_rows, cfg, tokenizer, "train", skipped),
        eval=_to_prompts(eval_rows, cfg, tokenizer, "eval", skipped),
        skipped=skipped,
    )
    if guard == "arithmetic":
        rows = arithmetic.rows(held_out=True, count=ARITHMETIC_GUARD_PROBLEMS, seed=1)
        sets.guard = _to_prompts(rows, dataclasses.replace(cfg, prompt_field="prompt", answer_field="answer"),
                                 tokenizer, "guard", skipped)
    for reason, count in skipped.items():
        log.warning("skipped %d prompt rows: %s", count, reason)
    if not sets.train or not sets.eval:
        empty = "training" if not sets.train else "held-out"
        raise DataError(f"data.source {cfg.source}: no usable {empty} prompts left (skipped: {dict(skipped)})")
    return sets


def _toy_rows(cfg: DataConfig, seed: int) -> tuple[list[dict], list[dict]]:
    """Prompts like 'write about cats and rain.'; the eval set uses topic pairs training never sees."""
    pairs = toy.topic_pairs()
    random.Random(seed).shuffle(pairs)
    eval_pairs = pairs[: cfg.toy_eval_prompts]
    train_pairs = pairs[cfg.toy_eval_prompts : cfg.toy_eval_prompts + cfg.toy_train_prompts]
    return _topic_rows(train_pairs), _topic_rows(eval_pairs)


def _arithmetic_rows(cfg: DataConfig, seed: int) -> tuple[list[dict], list[dict]]:
    """Sums with their answers (tasks/arithmetic.py). The held-out problems are the same for every seed,
    so seeds are compared on one test set; the seed picks and orders the training problems."""
    return (arithmetic.rows(held_out=False, count=cfg.toy_train_prompts, seed=seed),
            arithmetic.rows(held_out=True, count=cfg.toy_eval_prompts, seed=0))


def _topic_rows(pairs: list[tuple[str, str]]) -> list[dict]:
    return [{"prompt": toy.prompt(a, b)} for a, b in pairs]


def _user_rows(cfg: DataConfig, seed: int) -> tuple[list[dict], list[dict]]:
    train = read_rows(cfg.source, cfg.train_split)
    if cfg.eval_split:
        is_file = Path(cfg.eval_split).suffix in (".jsonl", ".json", ".parquet")
        held_out = read_rows(cfg.eval_split if is_file else cfg.source, "train" if is_file else cfg.eval_split)
    else:
        if not 0 < cfg.eval_fraction < 1:
            raise DataError(
                f"data.eval_fraction must be between 0 and 1 (got {cfg.eval_fraction}), or set data.eval_split"
            )
        rows = list(train)
        random.Random(seed).shuffle(rows)
        cut = max(1, round(len(rows) * cfg.eval_fraction))
        held_out, train = rows[:cut], rows[cut:]
    for name, rows in (("training", train), ("held-out", held_out)):
        if rows and cfg.prompt_field not in rows[0]:
            raise DataError(
                f"{cfg.source}: the {name} rows have no field '{cfg.prompt_field}' (data.prompt_field); "
                f"fields present: {', '.join(sorted(rows[0]))}"
            )
    return train, held_out


def read_rows(source: str, split: str, key: str = "data.source") -> list[dict]:
    """The rows of a .jsonl/.json/.parquet file or a saved datasets folder (its split); errors name the key."""
    import datasets

    path = Path(source)
    if not path.exists():
        raise DataError(
            f"{key} {source} does not exist; give a .jsonl or .parquet file, a saved datasets folder"
            + (", or 'toy'" if key == "data.source" else "")
        )
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"{source} has no split '{split}'; its splits: {', '.join(loaded)}")
            loaded = loaded[split]
        return loaded.to_list()
    kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix)
    if kind is None:
        raise DataError(
            f"{key} {source}: unsupported file type '{path.suffix}' (use .jsonl, .parquet or a datasets folder)"
        )
    if kind == "json":
        return _read_json_rows(path)
    try:
        return datasets.load_dataset(kind, data_files=str(path), split="train").to_list()
    except Exception as err:  # pyarrow and datasets raise many kinds for a damaged file
        raise DataError(f"{key} {source} could not be read as Parquet: {type(err).__name__}: {err}") from None


def _read_json_rows(path: Path) -> list[dict]:
    """JSON lines (one object a line) or one JSON array of objects; errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not UTF-8 text ({err.reason}); save the file as UTF-8") from None
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not valid JSON at line {err.lineno}: {err.msg}") from None
        numbered = list(enumerate(rows, start=1))
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                numbered.append((number, json.loads(line)))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}: line {number} is not valid JSON ({err.msg}); each line must be one "
                                "JSON object") from None
    for number, row in numbered:
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {number} is {type(row).__name__}, not a JSON object with a prompt field")
    if not numbered:
        raise DataError(f"{path} holds no rows; give one JSON object a line, e.g. {{\"prompt\": \"...\"}}")
    return [row for _, row in numbered]


def _to_prompts(rows: list[dict], cfg: DataConfig, tokenizer, split: str, skipped: Counter) -> list[Prompt]:
    prompts = []
    for index, row in enumerate(rows):
        text = _render(row.get(cfg.prompt_field), tokenizer)
        if text is None:
            skipped["not text nor a list of {role, content} messages"] += 1
            continue
        if not text:
            skipped["empty prompt"] += 1
            continue
        token_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(token_ids) > cfg.max_prompt_tokens:
            skipped[f"longer than data.max_prompt_tokens={cfg.max_prompt_tokens}"] += 1
            continue
        answer = row.get(cfg.answer_field) if cfg.answer_field else ""
        if cfg.answer_field and (not isinstance(answer, (str, int, float)) or isinstance(answer, bool) or answer == ""):
            skipped[f"no answer in data.answer_field={cfg.answer_field!r}"] += 1
            continue
        prompts.append(Prompt(f"{split}-{index}", text, token_ids, _messages(row[cfg.prompt_field]), str(answer)))
    return prompts


def _messages(value: str | list[dict]) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return [{"role": str(m.get("role", "user")), "content": str(m["content"])} for m in value]


def _render(value: Any, tokenizer) -> str | None:
    """Plain text becomes one user turn; a list of {role, content} messages is used as it is.

    Returns "" for an empty prompt and None for a value that is neither."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    messages = [{"role": "user", "content": value}] if isinstance(value, str) else value
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "content" in m for m in messages):
        return None
    if not any(str(m["content"]).strip() for m in messages):
        return ""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "\n".join(m["content"] for m in messages)


def prompt_batches(prompts: list[Prompt], size: int, seed: int) -> Iterator[list[Prompt]]:
    """Endless batches: each pass over the prompts in a fresh seeded order."""
    rng = random.Random(seed)
    order: list[Prompt] = []
    while True:
        while len(order) < size:
            epoch = list(prompts)
            rng.shuffle(epoch)
            order += epoch
        batch, order = order[:size], order[size:]
        yield batch
