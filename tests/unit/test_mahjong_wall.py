"""The batched forward-ready sampler: no ready hand lost by its pre-filter, and the same hands as drawing at a table."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from stratos.tasks.mahjong import parse_counts, wall
from stratos.tasks.mahjong.classes import generate_class
from stratos.tasks.mahjong.generate import Controls, generate
from stratos.tasks.mahjong.solver import STANDARD, Rules, waits_of_counts
from stratos.tasks.mahjong.tiles import SUIT_OFFSET


@pytest.mark.parametrize("wall_id", [0b0001, 0b0011, 0b1001])
def test_the_pre_filter_keeps_every_ready_hand_under_every_rule(wall_id):
    counts = wall._draw(np.random.default_rng(wall_id), wall_id, 10_000)
    kept = wall._maybe_ready(counts)
    ready = [bool(waits_of_counts(row, Rules.from_name("all"))) for row in counts.tolist()]
    assert sum(ready) > 20  # the check is not vacuous
    assert not any(r and not k for r, k in zip(ready, kept, strict=True))
    assert kept.sum() < 3 * sum(ready) + 50  # and it does throw the hopeless hands away


def test_the_pre_filter_keeps_ready_hands_of_the_whole_wall_and_the_special_forms():
    hands = [e.question for e in generate(300, 0, "reverse", Controls(n_suits=3, honours=True))]
    hands += ["1122m3344p5566s7z", "19m19p19s1234567z", "19m19p19s123456z1m"]  # seven pairs, thirteen orphans
    assert wall._maybe_ready(np.array([parse_counts(h, 13) for h in hands])).all()


def test_ready_draws_are_deterministic_under_the_seed_and_all_ready():
    a, b = wall.ready_draws("s", STANDARD), wall.ready_draws("s", STANDARD)
    first = [next(a) for _ in range(200)]
    assert first == [next(b) for _ in range(200)]
    assert all(w == waits_of_counts(c) and sum(c) == 13 for c, w in first)
    other = wall.ready_draws("t", STANDARD)
    assert first != [next(other) for _ in range(200)]


def table_draws(n: int, seed: int) -> list[list[int]]:
    """``n`` ready, not single-suit hands drawn one at a time as the task describes the class."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        suits = rng.sample("mps", rng.choice((1, 2, 2, 3, 3, 3)))
        kinds = [SUIT_OFFSET[s] + i for s in suits for i in range(9)] + (list(range(27, 34)) if rng.random() < 0.5 else [])
        counts = [0] * 34
        for i in rng.sample([k for k in kinds for _ in range(4)], 13):
            counts[i] += 1
        single = sum(any(counts[SUIT_OFFSET[s] : SUIT_OFFSET[s] + 9]) for s in "mps") == 1 and not any(counts[27:])
        if not single and waits_of_counts(counts):
            out.append(counts)
    return out


def profile(hands: list[list[int]]) -> dict[str, float]:
    """Shares a wrong sampler would shift: honours, numbered suits, waits, pairs held."""
    n = len(hands)
    waits = Counter(min(len(waits_of_counts(c)), 3) for c in hands)
    suits = Counter(sum(any(c[SUIT_OFFSET[s] : SUIT_OFFSET[s] + 9]) for s in "mps") for c in hands)
    return {
        "honours": sum(any(c[27:]) for c in hands) / n,
        "three_suits": suits[3] / n,
        "one_wait": waits[1] / n,
        "three_plus_waits": waits[3] / n,
        "pairs": sum(sum(x >= 2 for x in c) for c in hands) / n / 4,
    }


@pytest.mark.slow
def test_forward_ready_hands_are_distributed_as_table_draws():
    n = 400
    ours = profile([parse_counts(e.question, 13) for e in generate_class("forward-ready", n, seed=3)])
    table = profile(table_draws(n, seed=3))
    for key, p in table.items():
        tol = 4 * (max(p * (1 - p), 0.02) * 2 / n) ** 0.5  # 4 standard errors of a difference of shares
        assert abs(ours[key] - p) < tol, (key, ours[key], p)

