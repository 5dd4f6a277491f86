"""The served task's question check: an illegal question gets a 400 before it is queued.

Why: a model asked about a question its task rules out (for a puzzle task, a malformed
or impossible input) can only guess; the client is better served by a clear error naming
what is wrong. The task declares both halves (``Task.question_from_prompt`` finds the
question in a prompt, ``Task.validate_question`` judges it); text with no question in it
(free-form chat) passes unchecked. The task is the one the artifact's manifest names.

Both front doors use it: ``stratos serve`` on its parsed request, and the TLS gateway in
front of vLLM on a GPU node (:meth:`QuestionCheck.problem_in_body`), which sees only bytes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

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

    def problem_in_body(self, body: bytes) -> tuple[str, str] | None:
        """Why the question in an OpenAI chat or completion request body is illegal, and the
        parameter it came in; None when it is legal, absent, or the body is not such a request
        (the model server answers malformed bodies itself)."""
        try:
            request = json.loads(body)
        except ValueError:
            return None
        found = asked_in(request) if isinstance(request, dict) else None
        if found is None:
            return None
        text, param = found
        problem = self.problem(text)
        return None if problem is None else (problem, param)


def asked_in(request: dict[str, Any]) -> tuple[str, str] | None:
    """The client's own text in a chat request (its last user message) or a completion
    request (its prompt), with the parameter's name; None when there is none."""
    messages = request.get("messages")
    if isinstance(messages, list):
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        content = users[-1].get("content") if users else None
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        return (content, "messages") if isinstance(content, str) else None
    prompt = request.get("prompt")
    if isinstance(prompt, list) and prompt:
        prompt = prompt[0]
    return (prompt, "prompt") if isinstance(prompt, str) else None
