"""Generators: deterministic, correct answers, difficulty controls, leak-free splits."""

from __future__ import annotations

import pytest

from stratos.tasks.mahjong import (
    MahjongTask,
    canonical_hand,
    parse_counts,
    split_examples,
    split_of,
    winning_tiles,
)
from stratos.tasks.mahjong.generate import DIFFICULTIES


def _suits(hand: str) -> set[str]:
    c = parse_counts(hand)
    return {s for k, s in enumerate("mpsz") if any(c[9 * k : 9 * k + (7 if s == "z" else 9)])}


def test_reverse_puzzles_are_ready_with_the_full_wait_set_and_deterministic():
    task = MahjongTask()
    items = task.generate(500, seed=11)
    assert items == task.generate(500, seed=11)
    assert [e.question for e in items] != [e.question for e in task.generate(500, seed=12)]
    assert len({e.question for e in items}) == 500  # unique hands
    for e in items:
        assert e.source == "reverse"
        assert e.question == canonical_hand(e.question, 13)
        assert e.answer == winning_tiles(e.question) and e.answer
        assert e.difficulty in DIFFICULTIES and e.difficulty != "not-ready"
    # the answer is the full set, not only the removed tile: multi-wait puzzles are common
    assert sum(len(e.answer) > 1 for e in items) > 150


def test_forward_hands_are_mostly_not_ready():
    items = MahjongTask().generate(400, seed=2, mode="forward")
    assert all(e.source == "forward" and e.answer == winning_tiles(e.question) for e in items)
    assert sum(not e.answer for e in items) > 300
    assert any(e.difficulty == "not-ready" for e in items)


def test_difficulty_controls():
    task = MahjongTask()
    chin = task.generate(100, seed=1, chinitsu=True)
    assert all(len(_suits(e.question)) == 1 and "z" not in _suits(e.question) for e in chin)
    assert {e.difficulty for e in chin} == {"chinitsu"}
    two = task.generate(100, seed=1, n_suits=2, honours=False)
    assert all(len(_suits(e.question)) == 2 and "z" not in _suits(e.question) for e in two)
    honours = task.generate(100, seed=1, honours=True)
    assert all("z" in _suits(e.question) for e in honours)
    many = task.generate(50, seed=1, min_waits=4)
    assert all(len(e.answer) >= 4 for e in many)
    few = task.generate(50, seed=1, max_waits=1, mode="forward", min_waits=1, n_suits=1)
    assert all(len(e.answer) == 1 for e in few)
    with pytest.raises(ValueError, match="loosen"):
        task.generate(5, seed=0, mode="forward", min_waits=9, max_tries=2000)
    with pytest.raises(ValueError, match="unknown difficulty controls"):
        task.generate(5, seed=0, suits=3)
    with pytest.raises(ValueError, match="chinitsu"):
        task.generate(5, seed=0, chinitsu=True, honours=True)
    with pytest.raises(ValueError, match="mode"):
        task.generate(5, seed=0, mode="sideways")


def test_generate_can_attach_verified_rationales():
    task = MahjongTask()
    for e in task.generate(50, seed=4, rationale="short"):
        assert e.rationale is not None and e.rationale.endswith(task.format_answer(e.answer))
        assert task.check_rationale(e.question, e.rationale) == []


def test_splits_never_share_a_hand():
    task = MahjongTask()
    items = task.generate(2000, seed=0) + task.generate(
        2000, seed=1
    )  # overlapping runs repeat some hands
    parts = task.splits(items)
    hands = {k: {canonical_hand(e.question) for e in v} for k, v in parts.items()}
    assert (
        not hands["train"] & hands["val"]
        and not hands["train"] & hands["test"]
        and not hands["val"] & hands["test"]
    )
    assert sum(len(v) for v in parts.values()) == len(items)
    assert 0.7 < len(parts["train"]) / len(items) < 0.9 and parts["val"] and parts["test"]
    # the spelling of a hand does not change its split
    assert split_of("1112345678999m") == split_of("9m 9m 9m 8m 7m 6m 5m 4m 3m 2m 1m 1m 1m")
    assert split_examples(items, (0.0, 0.0, 1.0))["test"] == items
    with pytest.raises(ValueError, match="fractions"):
        split_of("1112345678999m", (0.5, 0.6, 0.1))
