"""Teacher labels for questions without references: self-consistency over ``k`` samples.

Why majority over samples: one sample of a teacher is noisy; the answer most of ``k``
samples agree on is right more often (self-consistency, Wang et al. 2023), and a
question where no answer wins a strict majority is one the teacher is unsure of, so it
is dropped rather than taught. The kept answers become the task's labels, and every
later "correct" (the synthesis filter, the evaluations) means "agrees with the teacher".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from stratos.synth.probe import ask
from stratos.synth.teachers.base import Teacher
from stratos.tasks.base import Example, Task


def majority(task: Task, answers: Sequence[Any | None]) -> Any | None:
    """The answer more than half of ``answers`` agree on (by the task's checker), else None."""
    groups: list[tuple[Any, int]] = []
    for a in answers:
        if a is None:
            continue
        for i, (rep, count) in enumerate(groups):
            if task.same_answer(a, rep):
                groups[i] = (rep, count + 1)
                break
        else:
            groups.append((a, 1))
    best = max(groups, key=lambda g: g[1], default=None)
    return best[0] if best is not None and best[1] * 2 > len(answers) else None


def teacher_labels(
    teacher: Teacher, task: Task, examples: Sequence[Example], *, k: int, max_new_tokens: int, seed: int
) -> tuple[list[Example], dict[str, Any]]:
    """``examples`` answered by the teacher's majority over ``k`` samples (one greedy, the rest at 0.8)."""
    if not examples:
        return [], {"questions": 0, "labelled": 0, "label_rate": 0.0}
    questions = [e.question for e in examples]
    samples: list[list[Any | None]] = [[] for _ in examples]
    for attempt in range(k):
        texts = ask(teacher, task, questions, n=1, temperature=0.0 if attempt == 0 else 0.8,
                    max_new_tokens=max_new_tokens, seed=seed + attempt)
        for i, t in enumerate(texts):
            samples[i].append(task.parse_answer(t[0]))
    out = []
    for ex, answers in zip(examples, samples, strict=True):
        label = majority(task, answers)
        if label is not None:
            out.append(replace(ex, answer=label, source="teacher_majority"))
    return out, {"questions": len(examples), "labelled": len(out), "label_rate": len(out) / len(examples),
                 "samples_per_question": k}
