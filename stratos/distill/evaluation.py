"""Score a model (student or teacher) on task examples by generating answers.

Uses the serving engine's batched greedy decoding, so the accuracy measured
here is the accuracy the served model has. Latency is measured one question at
a time (what a single user sees), separately from batched accuracy runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from stratos.metrics import Evaluation, Latency, latency_of, score_examples
from stratos.tasks.base import Example, Task


def generate_answers(
    engine: Any, task: Task, questions: Sequence[str], *, max_new_tokens: int, batch_size: int = 64
) -> tuple[list[str], float, int]:
    """Greedy outputs for each question's chat-rendered prompt; (texts, seconds, generated tokens)."""
    prompts = [engine.render_chat([{"role": "user", "content": task.prompt(q)}]) for q in questions]
    texts: list[str] = []
    tokens = 0
    t0 = time.perf_counter()
    # Longest prompts first keeps padding low; results are put back in order.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: dict[int, str] = {}
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        res = engine.generate([prompts[i] for i in idx], max_new_tokens=max_new_tokens)
        for i, r in zip(idx, res, strict=True):
            out[i] = r.text
            tokens += r.completion_tokens
    texts = [out[i] for i in range(len(prompts))]
    return texts, time.perf_counter() - t0, tokens


def evaluate_engine(
    engine: Any, task: Task, examples: Sequence[Example], *, max_new_tokens: int, batch_size: int = 64
) -> Evaluation:
    """Scores, throughput and a few transcripts for ``examples``."""
    texts, secs, toks = generate_answers(
        engine, task, [e.question for e in examples], max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    scores = score_examples(task, examples, [task.parse_answer(t) for t in texts])
    samples = [
        {"question": e.question, "expected": e.answer, "output": t[-300:]}
        for e, t in list(zip(examples, texts, strict=True))[:3]
    ]
    return Evaluation(**scores.model_dump(), tokens_per_s=toks / secs if secs else 0.0, samples=samples)


def latency(engine: Any, task: Task, questions: Sequence[str], *, max_new_tokens: int) -> Latency:
    """Per-question latency (batch of one, what a single user waits), with the requests' shape."""
    times, tokens = [], []
    for q in questions:
        prompt = engine.render_chat([{"role": "user", "content": task.prompt(q)}])
        t0 = time.perf_counter()
        (result,) = engine.generate([prompt], max_new_tokens=max_new_tokens)
        times.append(time.perf_counter() - t0)
        tokens.append((result.prompt_tokens, result.completion_tokens))
    return latency_of(times, tokens)
