"""Train/validation/test splits that never share a hand.

Each example goes to a split by a hash of its canonical hand, so the same hand
(in any spelling, from any generator run) always lands in the same split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from stratos.tasks.base import Example
from stratos.tasks.mahjong.tiles import canonical_hand


def split_of(
    hand: str, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), salt: str = ""
) -> str:
    """``train``, ``val`` or ``test`` for ``hand``, decided by a hash of its canonical form."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(
            f"fractions must be three non-negative numbers summing to 1, got {fractions}"
        )
    digest = hashlib.sha256(f"{salt}|{canonical_hand(hand)}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "val" if u < fractions[0] + fractions[1] else "test"


def split_examples(
    examples: Sequence[Example],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    salt: str = "",
) -> dict[str, list[Example]]:
    """The examples partitioned into ``train``/``val``/``test`` with no hand in two splits."""
    out: dict[str, list[Example]] = {"train": [], "val": [], "test": []}
    for e in examples:
        out[split_of(e.question, fractions, salt)].append(e)
    return out
