"""Ready hands drawn from the wall, thousands at a time: the forward-ready sampler.

Why: about 1 wall draw in 500 is a ready hand that is not single-suit, so drawing one
hand at a time and asking the solver took a minute for the job's 2,700 forward-ready
questions. Here draws come in numpy batches and a vectorised test throws away the hands
that certainly have no wait; only the survivors reach the solver, which has the last word.

Distribution: exactly that of ``generate``'s one-at-a-time forward draws kept when ready.
Each draw picks its suits as ``_suits_for`` does (1, 2 or 3 numbered suits with odds
1:2:3, honours with even odds, or as the controls fix them), then 13 tiles uniformly
without replacement from those suits' 4-copy wall. The pre-filter keeps every hand that
has a standard-form wait (a lookup per suit: is it melds, or melds and one pair, after one
more tile) and every hand near seven pairs or thirteen orphans, so no ready hand is lost
and which hands come out depends only on the draws. Only the random stream differs from
the one-at-a-time path (numpy's, seeded from the same string), so a seed still fixes the hands.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Iterator

import numpy as np

from stratos.tasks.mahjong.solver import TERMINALS_HONOURS, Rules, waits_of_counts
from stratos.tasks.mahjong.tiles import SUIT_OFFSET, SUIT_SIZE

BATCH = 20_000
_SUIT_COUNTS = (1, 2, 2, 3, 3, 3)  # the odds of 1, 2 or 3 numbered suits (as ``_suits_for``)
_GROUPS = ("m", "p", "s", "z")


@functools.cache
def _table(size: int) -> np.ndarray:
    """Per base-5 count code of one suit: 1 = melds only (or empty), 2 = melds and one pair, 0 = neither."""
    melds = [tuple(1 if k <= i < k + 3 else 0 for i in range(size)) for k in range(size - 2)] if size == 9 else []
    melds += [tuple(3 if i == k else 0 for i in range(size)) for k in range(size)]
    pairs = [None] + [tuple(2 if i == k else 0 for i in range(size)) for k in range(size)]
    table = np.zeros(5**size, dtype=np.int8)
    powers = [5**i for i in range(size)]
    for m in range(5):
        for combo in itertools.combinations_with_replacement(melds, m):
            for pair in pairs:
                counts = [sum(c[i] for c in combo) + (pair[i] if pair else 0) for i in range(size)]
                if max(counts, default=0) <= 4:
                    table[sum(c * p for c, p in zip(counts, powers, strict=True))] = 2 if pair else 1
    return table


def _maybe_ready(counts: np.ndarray) -> np.ndarray:
    """(B, 34) counts of 13-tile hands -> (B,) True where a wait is possible (never False for a ready hand)."""
    codes, valid = [], []
    for g in _GROUPS:
        size = SUIT_SIZE[g]
        code = counts[:, SUIT_OFFSET[g] : SUIT_OFFSET[g] + size].astype(np.int64) @ (5 ** np.arange(size))
        codes.append(code)
        valid.append(_table(size)[code])
    v = np.stack(valid, axis=1)
    ok = v > 0
    pairs = (v == 2).sum(axis=1)
    ready = np.zeros(len(counts), dtype=bool)
    for gi, g in enumerate(_GROUPS):
        size, others = SUIT_SIZE[g], np.delete(ok, gi, axis=1).all(axis=1)
        others_pairs = pairs - (v[:, gi] == 2)
        for k in range(size):
            room = counts[:, SUIT_OFFSET[g] + k] < 4
            after = _table(size)[np.where(room, codes[gi] + 5**k, 0)]
            ready |= room & others & (after > 0) & (others_pairs + (after == 2) == 1)
    near_pairs = (counts >= 2).sum(axis=1) >= 6
    near_orphans = (counts[:, list(TERMINALS_HONOURS)] > 0).sum(axis=1) >= 12
    return ready | near_pairs | near_orphans


def _walls(
    rng: np.random.Generator, n: int, suits_wanted: int | None, honours: bool | None, mixed: bool
) -> np.ndarray:
    """Up to ``n`` wall ids: bit i set = numbered suit i in the wall, bit 3 = honours.

    ``mixed`` drops the draws whose wall is one numbered suit alone (every hand from it is single-suit)."""
    k = np.full(n, suits_wanted) if suits_wanted else rng.choice(_SUIT_COUNTS, n)
    order = np.argsort(rng.random((n, 3)), axis=1)  # a random order of the three suits per draw
    bits = (1 << order) * (np.arange(3) < k[:, None])
    z = rng.random(n) < 0.5 if honours is None else np.full(n, honours)
    walls = bits.sum(axis=1) | (z.astype(np.int64) << 3)
    return walls[~np.isin(walls, (1, 2, 4))] if mixed else walls


def _draw(rng: np.random.Generator, wall_id: int, n: int) -> np.ndarray:
    """(n, 34) counts of 13 tiles drawn without replacement from one wall."""
    kinds = [SUIT_OFFSET[g] + i for b, g in enumerate(_GROUPS) if wall_id >> b & 1 for i in range(SUIT_SIZE[g])]
    wall = np.repeat(np.array(kinds), 4)
    picks = wall[np.argpartition(rng.random((n, len(wall))), 13, axis=1)[:, :13]]
    flat = (np.arange(n)[:, None] * 34 + picks).ravel()
    return np.bincount(flat, minlength=n * 34).reshape(n, 34)


def ready_draws(
    seed: str, rules: Rules, suits_wanted: int | None = None, honours: bool | None = None, *, mixed: bool = False
) -> Iterator[tuple[list[int], list[int]]]:
    """Endless (counts, waits) of wall draws that are ready, in draw order, deterministic under ``seed``.

    ``mixed`` skips the walls that can only give single-suit hands: the other hands keep their odds."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
    while True:
        walls = _walls(rng, BATCH, suits_wanted, honours, mixed)
        counts = np.zeros((len(walls), 34), dtype=np.int64)
        for w in np.unique(walls):
            rows = np.flatnonzero(walls == w)
            counts[rows] = _draw(rng, int(w), len(rows))
        for row in counts[_maybe_ready(counts)].tolist():
            waits = waits_of_counts(row, rules)
            if waits:
                yield row, waits
