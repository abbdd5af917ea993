"""The toy task's graded rule: the share of a target letter among the response's letters."""

from __future__ import annotations

from core.records import Feedback, Sample


def letter_share(text: str, letter: str) -> float:
    """Fraction of alphabetic characters equal to `letter`; a response with no letters scores 0."""
    letters = [c for c in text.lower() if c.isalpha()]
    return sum(c == letter for c in letters) / len(letters) if letters else 0.0


class LetterShareReward:
    def __init__(self, letter: str):
        if len(letter) != 1 or not letter.isalpha():
            raise ValueError(f"reward.target_letter must be one letter, got {letter!r}")
        self.letter = letter.lower()
        self.name = f"letter_share[{self.letter}]"

    def score(self, samples: list[Sample]) -> list[Feedback]:
        return [
            Feedback(s.sample_id, "score", letter_share(s.response_text, self.letter), self.name) for s in samples
        ]
