"""Knowledge injection: teach a task the teacher cannot solve.

Questions come from reverse synthesis (the task builds them from known
answers), so every label is right by construction. The teacher is asked the
easier, answer-conditioned question ("the answer is X; explain why") for up to
``rationale_budget`` of them; an explanation is kept only when the task's
checker verifies the answer it ends with, and every other example falls back
to the task's own rationale. The task's rules are added as a few
"what are the rules" examples so they live in the training data too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from stratos.synth.probe import ask
from stratos.synth.teachers.base import Teacher
from stratos.tasks.base import Example, Task

RULES_PROMPT = "State the rules you use to solve this task."


def explain_prompt(task: Task, ex: Example) -> str:
    """The answer-conditioned prompt: the task's knowledge, the question, the known answer, a request to justify it."""
    knowledge = task.knowledge().strip()
    return (
        (f"Background:\n{knowledge}\n\n" if knowledge else "")
        + f"{task.prompt(ex.question)}\n\nThe correct answer is given: {task.format_answer(ex.answer)}\n"
        f"Explain step by step why, and finish with the line '{task.format_answer(ex.answer)}'."
    )


def teacher_rationales(
    teacher: Teacher, task: Task, examples: Sequence[Example], *, max_new_tokens: int = 128
) -> tuple[list[str | None], int]:
    """Verified teacher explanations (None where the teacher's text fails the checker)."""
    if not examples:
        return [], 0
    register = getattr(teacher, "register", None)
    if register is not None:  # rule teachers answer from the question, not the prompt wording
        register([e.question for e in examples])
        texts = [t[0] for t in ask(teacher, task, [e.question for e in examples], max_new_tokens=max_new_tokens)]
    else:
        texts = [t[0] for t in teacher.generate([explain_prompt(task, e) for e in examples], max_new_tokens=max_new_tokens)]
    out: list[str | None] = []
    for ex, text in zip(examples, texts, strict=True):
        ans = task.parse_answer(text)
        out.append(text.strip() if ans is not None and task.check(ex.question, ans) else None)
    return out, len(texts)


def inject(
    teacher: Teacher | None,
    task: Task,
    examples: Sequence[Example],
    *,
    rationale_budget: int = 64,
    style: str = "short",
    knowledge_examples: int = 20,
    max_new_tokens: int = 128,
) -> tuple[list[Example], dict[str, Any]]:
    """Examples with verified rationales (+ rule examples), and acceptance statistics."""
    asked = list(examples[:rationale_budget]) if teacher is not None else []
    verdicts, calls = teacher_rationales(teacher, task, asked, max_new_tokens=max_new_tokens) if asked else ([], 0)
    out: list[Example] = []
    from_teacher = fallback = rejected = 0
    for i, ex in enumerate(examples):
        text = verdicts[i] if i < len(verdicts) else None
        if text is not None:
            from_teacher += 1
            out.append(replace(ex, rationale=text, source=f"{ex.source}+teacher_rationale"))
            continue
        if i < len(verdicts):
            fallback += 1
        rationale = task.rationale(ex.question, ex.answer, style=style) if style != "answer" else task.format_answer(ex.answer)
        # the fallback is itself checked: the task's rationale must end in the right answer
        parsed = task.parse_answer(rationale)
        if parsed is None or not task.check(ex.question, parsed):
            rejected += 1
            continue
        out.append(replace(ex, rationale=rationale))
    rules = task.knowledge()
    knowledge_examples = knowledge_examples if rules.strip() else 0  # a task with no rules text teaches none
    for k in range(knowledge_examples):
        out.append(Example(id=f"knowledge-{k}", question=RULES_PROMPT, answer=None, source="knowledge", rationale=rules))
    stats = {
        "questions": len(examples),
        "teacher_asked": len(asked),
        "teacher_calls": calls,
        "teacher_accepted": from_teacher,
        "teacher_acceptance_rate": from_teacher / len(asked) if asked else 0.0,
        "fallback_to_task_rationale": fallback,
        "rejected": rejected,
        "acceptance_rate": (len(examples) - rejected) / len(examples) if examples else 0.0,
        "knowledge_examples": knowledge_examples,
    }
    return out, stats
