"""Task A of the alignment lab: two-digit additions with a verifiable answer ("what is 47 + 38?" -> "85.").

Every problem a + b (0 <= a, b <= 99) is either held out or trainable, decided once by a hash of the
problem, whatever the run's seed: the warm start (models/tiny_sft.py) and training draw only trainable
problems, the held-out accuracy is measured only on held-out ones, so it cannot be memorised.
"""

from __future__ import annotations

import random
import zlib

MAX_OPERAND = 99
HELD_OUT_PER_MILLE = 100  # a tenth of the 10,000 problems


def question(a: int, b: int) -> str:
    return f"what is {a} + {b}?"


def answer(a: int, b: int) -> str:
    return str(a + b)


def is_held_out(a: int, b: int) -> bool:
    return zlib.crc32(f"{a}+{b}".encode()) % 1000 < HELD_OUT_PER_MILLE


def problems(held_out: bool) -> list[tuple[int, int]]:
    """Every problem of one side of the split, in a fixed order."""
    return [(a, b) for a in range(MAX_OPERAND + 1) for b in range(MAX_OPERAND + 1) if is_held_out(a, b) == held_out]


def sample_problems(held_out: bool, count: int, seed: int) -> list[tuple[int, int]]:
    pool = problems(held_out)
    if count > len(pool):
        raise ValueError(f"asked for {count} {'held-out' if held_out else 'training'} arithmetic problems; "
                         f"there are {len(pool)}")
    return random.Random(seed).sample(pool, count)


def rows(held_out: bool, count: int, seed: int) -> list[dict]:
    """Prompt rows as a data file would give them: the question and its reference answer."""
    return [{"prompt": question(a, b), "answer": answer(a, b)} for a, b in sample_problems(held_out, count, seed)]
