"""How a model is scored, in one vocabulary: ``report.json`` and ``stratos eval`` share these models.

A model's answers to a question set become ``Scores``: exact accuracy judged by the
task's ``check``, accuracy per question class (``by_class``, the task's
``class_of``), accuracy on the task's fixed evaluation mix (``mix_accuracy``), the
task's own headline figures (``highlights``) and whatever else its ``score`` adds
(``task_metrics``). ``Latency`` is per-request latency in milliseconds. Names carry
their unit (``p50_ms``); a figure that could not be measured is None, not NaN.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stratos.tasks.base import Example, Task


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClassScore(_Model):
    n: int = Field(ge=0)
    correct: int = Field(ge=0)
    accuracy: float = Field(ge=0, le=1)


class Latency(_Model):
    """Per-request latency percentiles (linear interpolation, numpy's default), milliseconds."""

    n: int = Field(ge=0, description="requests measured")
    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    max_ms: float | None = None
    prompt_tokens: float | None = Field(None, description="mean prompt tokens of the requests timed")
    completion_tokens: float | None = Field(None, description="mean generated tokens of the requests timed")


class Scores(_Model):
    """A model's answers to a question set, judged by the task's checker."""

    n: int = Field(ge=0)
    correct: int = Field(ge=0)
    accuracy: float = Field(ge=0, le=1, description="exact accuracy over every question (errors are wrong)")
    parsed: float = Field(ge=0, le=1, description="share of outputs with a readable answer")
    by_class: dict[str, ClassScore] = Field(default_factory=dict, description="accuracy per question class")
    mix: dict[str, float] | None = Field(None, description="the fixed evaluation mix: class -> weight (sums to 1)")
    mix_accuracy: float | None = Field(None, description="accuracy with the classes weighted by ``mix``")
    highlights: dict[str, float | None] = Field(default_factory=dict, description="the task's headline figures")
    task_metrics: dict[str, Any] = Field(default_factory=dict, description="the task's own extra metrics")


class Evaluation(Scores):
    """Scores plus how fast the answers came."""

    latency: Latency | None = Field(None, description="one question at a time (what a single user waits)")
    tokens_per_s: float | None = Field(None, description="generated tokens per second over the batched run")
    samples: list[dict[str, Any]] = Field(default_factory=list, description="a few transcripts")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation (numpy's default); NaN when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_of(seconds: Sequence[float], tokens: Sequence[tuple[int, int]] = ()) -> Latency:
    """``Latency`` from per-request wall times in seconds and, when known, each request's
    (prompt, generated) tokens: the shape a latency is only comparable at."""
    if not seconds:
        return Latency(n=0)
    ms = [s * 1000 for s in seconds]
    shape = {}
    if tokens:
        shape = {"prompt_tokens": sum(p for p, _ in tokens) / len(tokens),
                 "completion_tokens": sum(c for _, c in tokens) / len(tokens)}
    return Latency(
        n=len(ms), p50_ms=percentile(ms, 50), p90_ms=percentile(ms, 90), p95_ms=percentile(ms, 95),
        p99_ms=percentile(ms, 99), mean_ms=sum(ms) / len(ms), max_ms=max(ms), **shape,
    )


def mix_weights(mix: Mapping[str, float] | None) -> dict[str, float] | None:
    """``mix`` normalised to sum to 1 (None stays None)."""
    if not mix:
        return None
    total = sum(mix.values())
    if total <= 0 or any(w < 0 for w in mix.values()):
        raise ValueError(f"an evaluation mix needs non-negative weights with a positive sum, got {dict(mix)}")
    return {k: w / total for k, w in mix.items()}


def score_answers(
    task: Task,
    questions: Sequence[str],
    predictions: Sequence[Any | None],
    classes: Sequence[str | None],
    *,
    examples: Sequence[Example] | None = None,
) -> Scores:
    """Judge ``predictions`` (parsed answers, None = unreadable or failed) with ``task.check``.

    ``classes`` labels each question (None: unlabelled, counted only overall). With
    ``examples`` (known answers) the task's ``score`` and ``highlights`` are added.
    """
    if not len(questions) == len(predictions) == len(classes):
        raise ValueError(
            f"{len(questions)} questions, {len(predictions)} predictions, {len(classes)} classes: give one each"
        )
    ok = [p is not None and bool(task.check(q, p)) for q, p in zip(questions, predictions, strict=True)]
    groups: dict[str, list[bool]] = defaultdict(list)
    for c, hit in zip(classes, ok, strict=True):
        if c is not None:
            groups[c].append(hit)
    by_class = {c: ClassScore(n=len(v), correct=sum(v), accuracy=sum(v) / len(v)) for c, v in sorted(groups.items())}
    mix = mix_weights(task.eval_mix)
    scores = Scores(
        n=len(ok), correct=sum(ok), accuracy=sum(ok) / len(ok) if ok else 0.0,
        parsed=sum(p is not None for p in predictions) / len(ok) if ok else 0.0,
        by_class=by_class, mix=mix, mix_accuracy=_mix_accuracy(mix, by_class),
        task_metrics=dict(task.score(examples, predictions)) if examples is not None else {},
    )
    return scores.model_copy(update={"highlights": task.highlights(scores)})


def score_examples(task: Task, examples: Sequence[Example], predictions: Sequence[Any | None]) -> Scores:
    """``score_answers`` for examples with known answers, classed by the task."""
    return score_answers(
        task, [e.question for e in examples], predictions, [task.class_of(e) for e in examples], examples=examples
    )


def _mix_accuracy(mix: dict[str, float] | None, by_class: dict[str, ClassScore]) -> float | None:
    """Accuracy under ``mix``; None when a class of the mix was not asked."""
    if mix is None or any(c not in by_class for c, w in mix.items() if w > 0):
        return None
    return sum(w * by_class[c].accuracy for c, w in mix.items() if w > 0)


__all__ = [
    "ClassScore", "Evaluation", "Latency", "Scores", "latency_of", "mix_weights", "percentile", "score_answers",
    "score_examples",
]
