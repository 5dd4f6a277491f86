"""Scores: exact-set accuracy, set F1, ready/not-ready accuracy, by difficulty.

Pure functions over (gold, predicted) wait lists; a prediction of None (the
model's output could not be parsed) counts as wrong everywhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from stratos.tasks.base import Example


def set_f1(gold: Sequence[str], pred: Sequence[str] | None) -> float:
    """F1 of two tile sets; two empty sets agree perfectly (1.0), None scores 0."""
    if pred is None:
        return 0.0
    g, p = set(gold), set(pred)
    if not g and not p:
        return 1.0
    hit = len(g & p)
    if hit == 0:
        return 0.0
    precision, recall = hit / len(p), hit / len(g)
    return 2 * precision * recall / (precision + recall)


def _metrics(pairs: list[tuple[Sequence[str], Sequence[str] | None]]) -> dict[str, float | int]:
    n = len(pairs)
    if n == 0:
        return {"n": 0, "accuracy": 0.0, "f1": 0.0, "ready_accuracy": 0.0, "parsed": 0.0}
    exact = sum(1 for g, p in pairs if p is not None and set(g) == set(p))
    f1 = sum(set_f1(g, p) for g, p in pairs)
    ready = sum(1 for g, p in pairs if p is not None and bool(g) == bool(p))
    parsed = sum(1 for _, p in pairs if p is not None)
    return {
        "n": n,
        "accuracy": exact / n,
        "f1": f1 / n,
        "ready_accuracy": ready / n,
        "parsed": parsed / n,
    }


def score(
    examples: Sequence[Example], predictions: Sequence[Sequence[str] | None]
) -> dict[str, Any]:
    """Overall metrics plus ``by_difficulty`` and ``by_waits`` breakdowns.

    ``accuracy`` is exact-set accuracy; ``f1`` the mean per-item set F1;
    ``ready_accuracy`` whether the model got ready vs not-ready right;
    ``parsed`` the share of outputs with a readable answer.
    """
    if len(examples) != len(predictions):
        raise ValueError(
            f"{len(examples)} examples but {len(predictions)} predictions; pass one prediction per example"
        )
    pairs = [(list(e.answer), p) for e, p in zip(examples, predictions, strict=True)]
    by_diff: dict[str, list] = defaultdict(list)
    by_waits: dict[str, list] = defaultdict(list)
    for e, pair in zip(examples, pairs, strict=True):
        by_diff[e.difficulty].append(pair)
        k = len(e.answer)
        by_waits[str(k) if k < 4 else "4+"].append(pair)
    out: dict[str, Any] = dict(_metrics(pairs))
    out["by_difficulty"] = {k: _metrics(v) for k, v in sorted(by_diff.items())}
    out["by_waits"] = {k: _metrics(v) for k, v in sorted(by_waits.items())}
    return out
