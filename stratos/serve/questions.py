"""The served task's question check: an illegal question gets a 400 before it is queued.

Why: a model asked about a question its task rules out (for a puzzle task, a malformed
or impossible input) can only guess; the client is better served by a clear error naming
what is wrong. The task declares both halves (``Task.question_from_prompt`` finds the
question in a prompt, ``Task.validate_question`` judges it); text with no question in it
(free-form chat) passes unchecked. The task is the one the artifact's manifest names.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from stratos.exceptions import ConfigError, QuestionError
from stratos.manifest import MANIFEST
from stratos.tasks.base import Task, get_task

log = logging.getLogger("stratos.serve")


class QuestionCheck:
    """Judges the question in a request's text by the served task's own rules."""

    def __init__(self, task: Task):
        self.task = task

    @classmethod
    def for_artifact(cls, model_dir: Path) -> QuestionCheck | None:
        """The check for the task the artifact was trained for; None when it names none known here."""
        try:
            name = json.loads((model_dir / MANIFEST).read_text()).get("task")
        except (OSError, ValueError, AttributeError):
            return None  # a plain HF model dir: no task, nothing to check against
        if not isinstance(name, str):
            return None
        try:
            return cls(get_task(name))
        except ConfigError:
            log.info("questions are not checked: the artifact's task %r is not registered here", name)
            return None

    def problem(self, text: str) -> str | None:
        """Why the question in ``text`` is illegal; None when it is legal or there is none."""
        question = self.task.question_from_prompt(text)
        if question is None:
            return None
        try:
            self.task.validate_question(question)
        except QuestionError as exc:
            return str(exc)
        return None
