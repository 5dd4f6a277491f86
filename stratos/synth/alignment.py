"""Knowledge alignment: keep only the teacher outputs the task's checker verifies.

Each question is first answered greedily; questions whose answer fails are
re-asked with sampling (temperature 0.8) up to ``samples_per_question`` tries in
total. The first verified output becomes the training target; questions with
none are dropped. Acceptance rates go into the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from stratos.synth.probe import ask
from stratos.synth.teachers.base import Teacher
from stratos.tasks.base import Example, Task


def align(
    teacher: Teacher,
    task: Task,
    examples: Sequence[Example],
    *,
    samples_per_question: int = 4,
    max_new_tokens: int = 128,
    seed: int = 0,
) -> tuple[list[Example], dict[str, Any]]:
    """Teacher-labelled examples (``source='teacher'``, rationale = the verified text) and stats."""
    kept: dict[int, Example] = {}
    pending = list(range(len(examples)))
    tries = 0
    for attempt in range(samples_per_question):
        if not pending:
            break
        temp = 0.0 if attempt == 0 else 0.8
        texts = ask(
            teacher, task, [examples[i].question for i in pending],
            n=1, temperature=temp, max_new_tokens=max_new_tokens, seed=seed + attempt,
        )
        tries += len(pending)
        still = []
        for i, t in zip(pending, texts, strict=True):
            text = t[0]
            ans = task.parse_answer(text)
            if ans is not None and task.check(examples[i].question, ans):
                kept[i] = replace(examples[i], answer=ans, rationale=text.strip(), source="teacher")
            else:
                still.append(i)
        pending = still
    out = [kept[i] for i in sorted(kept)]
    stats = {
        "questions": len(examples),
        "accepted": len(out),
        "acceptance_rate": len(out) / len(examples) if examples else 0.0,
        "teacher_calls": tries,
        "per_call_acceptance": len(out) / tries if tries else 0.0,
        "rejection_rate": 1.0 - len(out) / tries if tries else 0.0,  # teacher outputs the checker refused
        "samples_per_question": samples_per_question,
    }
    return out, stats
