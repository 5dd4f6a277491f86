"""The task's rule engine as a teacher: always right, never needs a model.

Why: for tasks with an exact solver (Mahjong's wait calculator) the rule
engine is the strongest, cheapest teacher there is, and it gives the planner a
baseline. The task exposes its solver as ``solve(question)`` (``Task.has_solver``);
questions are recovered from prompts through the ``questions`` map the caller
passes, else through the task's ``question_from_prompt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stratos.exceptions import TeacherError
from stratos.tasks.base import Task


class RuleTeacher:
    """Answers with ``task.format_answer(task.solve(question))``, optionally after a rationale."""

    tokenizer_id = None

    def __init__(self, task: Task, *, with_rationale: bool = False) -> None:
        if not task.has_solver:
            raise TeacherError(
                f"task {task.name!r} has no rule engine (a `solve(question)` method); "
                "choose an HTTP or local model teacher instead."
            )
        self.task = task
        self.name = f"rules:{task.name}"
        self.with_rationale = with_rationale
        self._prompt_to_question: dict[str, str] = {}

    def load(self) -> None:
        """Nothing to load: the task's rule engine answers."""

    def register(self, questions: Sequence[str]) -> None:
        """Remember which question each prompt came from (prompts are the task's canonical ones)."""
        for q in questions:
            self._prompt_to_question[self.task.prompt(q)] = q

    def _question(self, prompt: str) -> str:
        q = self._prompt_to_question.get(prompt)
        if q is None:
            q = self.task.question_from_prompt(prompt)
        if q is None:
            raise TeacherError("the rule teacher got a prompt it cannot map back to a question; call register().")
        return q

    def answer(self, question: str) -> Any:
        return self.task.solve(question)

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 128,
        seed: int = 0,
    ) -> list[list[str]]:
        out = []
        for p in prompts:
            q = self._question(p)
            a = self.answer(q)
            text = self.task.rationale(q, a, style="short") if self.with_rationale else self.task.format_answer(a)
            out.append([text] * n)
        return out
