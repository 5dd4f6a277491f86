"""Adaptive mode: probe the teacher on held-out questions with known answers.

The paper's dual-mode rule: when the teacher already solves the task (probe
accuracy at or above the threshold), distil its verified outputs (knowledge
alignment); otherwise teach the task from reverse-synthesised data with the
rules and verified rationales (knowledge injection). The probe's numbers and
a few of its transcripts go into the run report so the decision is auditable.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from stratos.synth.teachers.base import Teacher
from stratos.tasks.base import Example, Task


@dataclass
class ProbeResult:
    teacher: str
    n: int
    correct: int
    parsed: int
    threshold: float
    mode: str
    wall_s: float
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy": self.accuracy}


def choose_mode(accuracy: float, threshold: float) -> str:
    """``alignment`` when the teacher is good enough to imitate, else ``injection``."""
    return "alignment" if accuracy >= threshold else "injection"


def ask(teacher: Teacher, task: Task, questions: Sequence[str], **kw: Any) -> list[list[str]]:
    """The teacher's texts for the task's canonical prompts (registers questions with rule teachers)."""
    register = getattr(teacher, "register", None)
    if register is not None:
        register(questions)
    return teacher.generate([task.prompt(q) for q in questions], **kw)


def probe_teacher(
    teacher: Teacher,
    task: Task,
    examples: Sequence[Example],
    threshold: float,
    *,
    max_new_tokens: int = 64,
    keep_samples: int = 5,
) -> ProbeResult:
    """Greedy-decode each probe question once and score it with the task's checker."""
    t0 = time.perf_counter()
    texts = [t[0] for t in ask(teacher, task, [e.question for e in examples], max_new_tokens=max_new_tokens)]
    correct = parsed = 0
    samples = []
    for ex, text in zip(examples, texts, strict=True):
        ans = task.parse_answer(text)
        ok = ans is not None and task.check(ex.question, ans)
        parsed += ans is not None
        correct += ok
        if len(samples) < keep_samples:
            samples.append({"question": ex.question, "expected": ex.answer, "output": text[:400], "correct": ok})
    acc = correct / len(examples) if examples else 0.0
    return ProbeResult(
        teacher=teacher.name,
        n=len(examples),
        correct=correct,
        parsed=parsed,
        threshold=threshold,
        mode=choose_mode(acc, threshold),
        wall_s=time.perf_counter() - t0,
        samples=samples,
    )
