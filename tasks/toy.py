"""The toy task's text, in one place: "write about X and Y." for two topics X and Y.

The default run trains on it (reward: the share of the letter "o"), the toy guard checks that X and Y are
named, and the lab's Task B (tasks/writing.py) asks the same question. WORDS, a separate list, is what the
tiny models' tokenizer and random sentences are built from (models/tiny.py); the topics are plurals of
most of them.
"""

from __future__ import annotations

import re

TOPICS = (
    "cats dogs birds fish trees rivers moons suns stars clouds rain snow wind stones roads doors books songs "
    "light night food water fire houses gardens cities oceans forests mountains apples bread"
).split()
WORDS = (
    "cat dog bird fish tree river moon sun star cloud rain snow wind stone road door book song light night "
    "day food water fire house garden city ocean forest mountain apple bread color music story dream friend "
    "school window paper market summer winter morning evening letter"
).split()
PROMPT_PATTERN = re.compile(r"write about (\w+) and (\w+)\.")


def prompt(first: str, second: str) -> str:
    return f"write about {first} and {second}."


def topic_pairs() -> list[tuple[str, str]]:
    """Every ordered pair of two different topics, in a fixed order."""
    return [(a, b) for a in TOPICS for b in TOPICS if a != b]
