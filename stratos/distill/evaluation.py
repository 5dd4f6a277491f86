"""Score a model (student or teacher) on task examples by generating answers.

Uses the serving engine's batched greedy decoding, so the accuracy measured
here is the accuracy the served model has. Latency is measured one question at
a time (what a single user sees), separately from batched accuracy runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from stratos.tasks.base import Example, Task


def breakdowns(task: Task, examples: Sequence[Example], preds: Sequence[Any]) -> dict[str, Any]:
    """The task's score plus breakdowns every list-answer task has: by answer size (1, 2, 3, 4+)."""
    metrics = dict(task.score(examples, preds))
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        if isinstance(e.answer, list):
            k = len(e.answer)
            groups.setdefault("4+" if k >= 4 else str(k), []).append(i)
    metrics["by_answer_size"] = {
        k: {
            "n": len(ix),
            "accuracy": sum(preds[i] is not None and task.check(examples[i].question, preds[i]) for i in ix) / len(ix),
        }
        for k, ix in sorted(groups.items())
    }
    return metrics


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
) -> dict[str, Any]:
    """Accuracy metrics, throughput and a few transcripts for ``examples``."""
    texts, secs, toks = generate_answers(
        engine, task, [e.question for e in examples], max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    preds = [task.parse_answer(t) for t in texts]
    metrics = breakdowns(task, examples, preds)
    metrics.update(
        wall_s=secs,
        generated_tokens=toks,
        tokens_per_s=toks / secs if secs else 0.0,
        samples=[
            {"question": e.question, "expected": e.answer, "output": t[-300:]}
            for e, t in list(zip(examples, texts, strict=True))[:3]
        ],
    )
    return metrics


def latency(engine: Any, task: Task, questions: Sequence[str], *, max_new_tokens: int) -> dict[str, float]:
    """Per-question latency (batch of one): p50/p90 seconds and mean generated tokens."""
    times, toks = [], []
    for q in questions:
        prompt = engine.render_chat([{"role": "user", "content": task.prompt(q)}])
        t0 = time.perf_counter()
        r = engine.generate([prompt], max_new_tokens=max_new_tokens)[0]
        times.append(time.perf_counter() - t0)
        toks.append(r.completion_tokens)
    times.sort()
    return {
        "n": len(times),
        "p50_s": statistics.median(times) if times else 0.0,
        "p90_s": times[int(0.9 * (len(times) - 1))] if times else 0.0,
        "mean_tokens": statistics.fmean(toks) if toks else 0.0,
    }
