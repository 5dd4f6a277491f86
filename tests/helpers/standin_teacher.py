"""A rules-style stand-in teacher for dataset tasks: right on a known, fixed set of questions.

Whether it is right on a question is decided by a hash of the question (the same on every
call), so a test knows exactly which questions alignment must keep. ``unsure`` questions
get a different wrong answer for every sampling seed (no majority among samples).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def fraction_of(question: str) -> float:
    return int(hashlib.sha256(b"stand-in:" + question.encode()).hexdigest()[:8], 16) / 16**8  # not the split hash


class StandInTeacher:
    tokenizer_id = None

    def load(self) -> None:
        pass

    def __init__(self, task, answers: dict[str, float], right: float, unsure: float = 0.0) -> None:
        self.task, self.answers, self.right, self.unsure = task, answers, right, unsure
        self.name = f"stand-in({right:.0%} right)"
        self._question: dict[str, str] = {}

    def register(self, questions: Sequence[str]) -> None:
        self._question.update({self.task.prompt(q): q for q in questions})

    def is_right(self, question: str) -> bool:
        return fraction_of(question) < self.right

    def is_unsure(self, question: str) -> bool:
        return 1.0 - fraction_of(question) <= self.unsure

    def generate(self, prompts, *, n=1, temperature=0.0, max_new_tokens=128, seed=0):
        out = []
        for p in prompts:
            q = self._question[p]
            value = self.answers[q] if self.is_right(q) else self.answers[q] + 1
            if self.is_unsure(q):
                value = self.answers[q] + 2 + seed
            out.append([f"Answer: {value:g}"] * n)
        return out
