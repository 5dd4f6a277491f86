"""Score a model on a task's questions through its HTTP endpoint: accuracy, latency, throughput, errors.

Answers are never read from the questions file: each reply is parsed with the
task's ``parse_answer`` and judged by its ``check`` (for Mahjong, the exact
set of winning tiles), so a questions file is just ``{"hand": ...}`` lines.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from stratos.evaluate.client import EndpointClient, Reply
from stratos.exceptions import ConfigError
from stratos.metrics import Evaluation, Scores, latency_of, score_answers
from stratos.tasks.base import Task

# Field names tried, in order, when a task does not declare ``question_field``.
_QUESTION_FIELDS = ("question", "hand", "input", "prompt")


@dataclass(frozen=True)
class Question:
    text: str
    label: str | None = None  # the question's class (``class``, else ``difficulty``, in the file)


class EvalReport(Evaluation):
    """What ``stratos eval --json`` prints: the scores and latency names of ``report.json``."""

    task: str
    model: str
    endpoint: str
    errors: int
    error_examples: list[str]
    throughput_rps: float
    wall_s: float
    concurrency: int = Field(ge=1)


def read_questions(path: str | Path, task: Task) -> list[Question]:
    """Questions from JSONL: the task's question field (``question_field`` or a common name) + its class."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"questions file {path} does not exist; pass a JSONL file of questions.")
    declared = task.question_field
    out: list[Question] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}:{lineno} is not JSON ({exc.msg}); write one object per line."
            ) from exc
        fields = (declared, "question") if declared else _QUESTION_FIELDS  # a run's own data files say "question"
        key = next(
            (f for f in fields if isinstance(row, dict) and isinstance(row.get(f), str)), None
        )
        if key is None:
            raise ConfigError(
                f"{path}:{lineno} has no question field (expected one of {list(fields)})."
            )
        label = row.get("class", row.get("difficulty"))
        out.append(Question(row[key], str(label) if label is not None else None))
    if not out:
        raise ConfigError(f"{path} holds no questions.")
    return out


def score_replies(task: Task, questions: Sequence[Question], replies: Sequence[Reply]) -> Scores:
    """Scores over all questions (errors count as wrong), per class where the file names one."""
    preds = [task.parse_answer(r.text) if r.text is not None else None for r in replies]
    return score_answers(task, [q.text for q in questions], preds, [q.label for q in questions])


async def evaluate_endpoint(
    base_url: str,
    token: str | None,
    task: Task,
    questions: Sequence[Question],
    *,
    concurrency: int = 8,
    max_tokens: int = 256,
    model: str | None = None,
    on_reply: Callable[[Reply], None] | None = None,
) -> EvalReport:
    """Send every question's prompt (``concurrency`` in flight) and score the replies."""
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be >= 1, got {concurrency}.")
    async with EndpointClient(base_url, token) as client:
        model = model or await client.model_name()
        start = time.perf_counter()
        replies = await client.chat_many(
            model,
            [task.prompt(q.text) for q in questions],
            concurrency=concurrency,
            max_tokens=max_tokens,
            on_reply=on_reply,
        )
        wall = time.perf_counter() - start
    scored = score_replies(task, questions, replies)
    ok = [r for r in replies if r.error is None]
    errors = [r.error for r in replies if r.error is not None]
    return EvalReport(
        **scored.model_dump(),
        latency=latency_of([r.latency_s for r in ok]),
        tokens_per_s=sum(r.completion_tokens for r in ok) / wall if wall > 0 else 0.0,
        task=task.name,
        model=model,
        endpoint=client.base_url,
        errors=len(errors),
        error_examples=errors[:3],
        throughput_rps=len(ok) / wall if wall > 0 else 0.0,
        wall_s=wall,
        concurrency=concurrency,
    )


def evaluate(
    target: str,
    task: Task,
    questions: Sequence[Question],
    *,
    token: str | None = None,
    concurrency: int = 8,
    max_tokens: int = 256,
    threads: int | None = None,
    on_reply: Callable[[Reply], None] | None = None,
    device: str = "auto",
) -> EvalReport:
    """Evaluate a URL directly, or a model dir through a local server started for the run on ``device``."""
    if target.startswith(("http://", "https://")):
        return asyncio.run(
            evaluate_endpoint(
                target, token, task, questions, concurrency=concurrency, max_tokens=max_tokens,
                on_reply=on_reply,
            )
        )
    from stratos.evaluate.local import local_server

    if not Path(target).is_dir():
        raise ConfigError(f"--model {target} is neither a URL nor a model dir.")
    with local_server(
        target, threads=threads, max_batch_size=max(1, min(concurrency, 64)), device=device
    ) as server:
        return asyncio.run(
            evaluate_endpoint(
                server.base_url,
                server.token,
                task,
                questions,
                concurrency=concurrency,
                max_tokens=max_tokens,
                on_reply=on_reply,
            )
        )
