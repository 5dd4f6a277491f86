"""The four question classes of the wait puzzle and the mixes the job trains and is judged on.

A player asks about any 13-tile hand, so the data covers the whole question space:

- ``reverse``: a winning hand minus one tile (ready by construction), two or more suits
  or honours: the classic puzzle;
- ``single-suit``: reverse puzzles in one numbered suit (chinitsu), the hardest family;
- ``forward-ready``: hands drawn from a shuffled wall as at a table, kept when ready
  (about 1 draw in 500), not single-suit (most ready draws are; those belong to ``single-suit``): the waits real hands have
  (drawn in batches by ``wall.ready_draws``, which keeps that distribution);
- ``not-ready``: hands drawn from the wall with no winning tile (answer ``none``), what
  most hands a player holds are.

The class is a pure function of an example (``class_of``), so a JSONL file read back
classes the same way, and the generators below make each class disjoint from the others.
"""

from __future__ import annotations

from collections.abc import Mapping

from stratos.tasks.base import Example
from stratos.tasks.mahjong.generate import Controls, generate
from stratos.tasks.mahjong.solver import STANDARD, Rules
from stratos.tasks.mahjong.splits import split_examples

CLASSES = ("reverse", "single-suit", "forward-ready", "not-ready")
SPLITS = ("train", "val", "test")

#: Training proportions: every class is asked, single-suit oversampled (the hardest to learn);
#: forward-ready hands teach what reverse puzzles teach, so they are a smaller share.
TRAIN_MIX: Mapping[str, float] = {"reverse": 0.45, "single-suit": 0.3, "forward-ready": 0.05, "not-ready": 0.2}
#: The fixed evaluation mix: the four classes weighed equally (written into every report).
EVAL_MIX: Mapping[str, float] = {c: 0.25 for c in CLASSES}

# (generator mode, its controls) per class; the class filter drops the few hands of another class.
_RECIPES: dict[str, tuple[str, dict]] = {
    "reverse": ("reverse", {}),
    "single-suit": ("reverse", {"chinitsu": True}),
    "forward-ready": ("forward", {"min_waits": 1, "mixed": True}),
    "not-ready": ("forward", {"max_waits": 0}),
}
# the share of a recipe's output kept by the class filter is at least this (sizes the first batch)
_KEPT_AT_LEAST = {"reverse": 0.8, "single-suit": 1.0, "forward-ready": 1.0, "not-ready": 1.0}


def class_of(example: Example) -> str:
    """The question class of ``example``: no waits, then one suit, then how it was made."""
    if not example.answer:
        return "not-ready"
    if example.difficulty == "chinitsu":
        return "single-suit"
    return "forward-ready" if example.source == "forward" else "reverse"


def generate_class(name: str, n: int, seed: int, rules: Rules = STANDARD) -> list[Example]:
    """``n`` distinct questions of class ``name``, deterministic under ``seed``."""
    if name not in _RECIPES:
        raise ValueError(f"unknown question class {name!r}; use one of {', '.join(CLASSES)}")
    if n <= 0:
        return []
    mode, controls = _RECIPES[name]
    ask = int(n / _KEPT_AT_LEAST[name]) + 10
    while True:
        items = generate(ask, f"{seed}/{name}", mode, Controls(**controls), rules)
        kept = [e for e in items if class_of(e) == name]
        if len(kept) >= n:
            return kept[:n]
        ask = int(ask * n / max(1, len(kept)) * 1.2) + 10


def mixed_splits(
    sizes: Mapping[str, int], mixes: Mapping[str, Mapping[str, float]], seed: int, rules: Rules = STANDARD
) -> dict[str, list[Example]]:
    """Train/val/test of ``sizes[split]`` questions in class proportions ``mixes[split]``.

    Every class gets one pool, split by hand hash (``split_examples``) in proportion to what
    each split needs of it (forward-ready hands are dear: none is drawn to be thrown away);
    a hand that two classes' pools share is kept out of training when it is held out.
    Each split's classes are interleaved so any prefix keeps its mix.
    """
    want = {s: _apportion(n, mixes[s]) for s, n in sizes.items()}
    per_class: dict[str, dict[str, list[Example]]] = {}
    for c in CLASSES:
        need = [want.get(s, {}).get(c, 0) for s in SPLITS]
        if not sum(need):
            continue
        fractions = tuple(n / sum(need) for n in need)
        n = int(sum(need) * 1.1) + 20
        while True:  # an unlucky hash split: draw more
            parts = split_examples(generate_class(c, n, seed, rules), fractions, salt=c)  # type: ignore[arg-type]  # 3 fractions
            if all(len(parts[s]) >= k for s, k in zip(SPLITS, need, strict=True)):
                break
            n = int(n * 1.2)
        per_class[c] = {s: parts[s][:k] for s, k in zip(SPLITS, need, strict=True)}
    held_out = {e.question for c in per_class for s in ("val", "test") for e in per_class[c][s]}
    for c in per_class:
        per_class[c]["train"] = [e for e in per_class[c]["train"] if e.question not in held_out]
    return {s: _interleave([per_class[c][s] for c in per_class]) for s in sizes}


def _apportion(n: int, mix: Mapping[str, float]) -> dict[str, int]:
    """``n`` split over the weights of ``mix`` by largest remainder (the counts sum to ``n``)."""
    total = sum(mix.values())
    raw = {c: n * w / total for c, w in mix.items()}
    counts = {c: int(r) for c, r in raw.items()}
    for c in sorted(raw, key=lambda c: raw[c] - counts[c], reverse=True)[: n - sum(counts.values())]:
        counts[c] += 1
    return counts


def _interleave(lists: list[list[Example]]) -> list[Example]:
    """The lists merged so each stays spread evenly over the result (a prefix keeps the proportions)."""
    keyed = [((i + 0.5) / len(lst), k, e) for k, lst in enumerate(lists) for i, e in enumerate(lst)]
    return [e for _, _, e in sorted(keyed, key=lambda t: (t[0], t[1]))]
