"""Preference pairs from files in TRL's preference format: one row per pair with `prompt`, `chosen` and `rejected`,
each text or a conversation ([{"role", "content"}, ...]: the prompt's user turns, the responses' last assistant
turn), an optional `tie: true` for two equally good responses, and an optional `preference` in [0, 1], P(chosen is
better), a soft label. Read for the pairs every evaluation measures the judge on (evaluation.judge_pairs; or the
lab's, drawn from the gold reward, tasks/judging.py) and for training a reward model (learner/reward_model_training.py)."""

from __future__ import annotations

from core.data import DataError, read_rows
from core.records import LabelledPair

KEY = "evaluation.judge_pairs"
LAB_PAIRS, LAB_TIES = 128, 32  # writing_gold: pairs whose gold differs, and equally good pairs of different lengths


def load_judge_pairs(source: str) -> list[LabelledPair]:
    """The pairs `source` names ("" none, "writing_gold" the lab's, or a file or datasets folder); a bad row is an
    error naming the file, the row and the field."""
    if not source:
        return []
    if source == "writing_gold":
        from tasks.judging import labelled_pairs

        return labelled_pairs(LAB_PAIRS, LAB_TIES)
    pairs = [pair for pair, _ in load_preference_pairs(source, KEY)]
    if all(pair.tie for pair in pairs):
        raise DataError(f"{KEY} {source}: every row is a tie; agreement needs pairs whose better response is known")
    return pairs


def load_preference_pairs(source: str, key: str) -> list[tuple[LabelledPair, float]]:
    """Each row's pair and P(chosen is better): its `preference`, else 0.5 for a tie and 1 otherwise. key: the
    setting or argument that named the source, for the errors."""
    rows = read_rows(source, "train", key)
    return [_pair(row, number, source, key) for number, row in enumerate(rows, start=1)]


def _pair(row: dict, number: int, source: str, key: str) -> tuple[LabelledPair, float]:
    texts = {}
    for field, role in (("prompt", "user"), ("chosen", "assistant"), ("rejected", "assistant")):
        if field not in row:
            raise DataError(f"{key} {source}: row {number} has no '{field}' (fields present: {', '.join(sorted(row))}); "
                            "each row needs prompt, chosen and rejected")
        text = _text(row[field], role)
        if text is None or (field == "prompt" and not text):  # an empty response is a response (a bad one)
            raise DataError(f"{key} {source}: row {number}'s '{field}' is {'empty' if text == '' else 'not text'} "
                            f"nor a list of {{role, content}} messages with a {role} turn")
        texts[field] = text
    tie = row.get("tie", False)
    if not isinstance(tie, bool):
        raise DataError(f"{key} {source}: row {number}'s 'tie' is {tie!r}; write true or false")
    preference = row.get("preference", 0.5 if tie else 1.0)
    if isinstance(preference, bool) or not isinstance(preference, (int, float)) or not 0 <= preference <= 1:
        raise DataError(f"{key} {source}: row {number}'s 'preference' is {preference!r}; it is P(chosen is better), "
                        "a number from 0 to 1")
    return LabelledPair(texts["prompt"], texts["chosen"], texts["rejected"], tie), float(preference)


def _text(value, role: str) -> str | None:
    """Text as it is; a conversation's user turns (a prompt) or its last assistant turn (a response); None when
    it is neither."""
    if isinstance(value, str):
        return value.strip()
    if not isinstance(value, list) or not all(isinstance(m, dict) and "content" in m for m in value):
        return None
    turns = [str(m["content"]) for m in value if m.get("role", "user") == role]
    if role == "assistant":
        return turns[-1].strip() if turns else None
    return "\n".join(turns).strip()
