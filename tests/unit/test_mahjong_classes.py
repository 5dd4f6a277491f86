"""The four question classes: each generated legal, 13 tiles, labelled by the solver, mixed as declared."""

from __future__ import annotations

import pytest

from stratos.metrics import score_examples
from stratos.tasks import get_task
from stratos.tasks.mahjong import MahjongTask, parse_counts, winning_tiles
from stratos.tasks.mahjong.classes import CLASSES, EVAL_MIX, TRAIN_MIX, class_of, generate_class

TASK = get_task("mahjong")


@pytest.mark.parametrize("name", CLASSES)
def test_each_class_is_legal_thirteen_tiles_labelled_by_the_solver(name):
    items = generate_class(name, 30, seed=4)
    assert len(items) == 30 and len({e.question for e in items}) == 30
    for e in items:
        counts = parse_counts(e.question, 13)  # legal: 13 tiles, at most 4 of a kind
        assert sum(counts) == 13 and max(counts) <= 4
        assert e.answer == winning_tiles(e.question)
        assert class_of(e) == TASK.class_of(e) == name
        assert TASK.check_rationale(e.question, TASK.rationale(e.question, e.answer)) == []
    if name == "not-ready":
        assert all(e.answer == [] and TASK.format_answer(e.answer) == "Answer: none" for e in items)
    else:
        assert all(e.answer for e in items)
    if name == "single-suit":
        assert all(len({t[1] for t in parse_codes(e.question)}) == 1 for e in items)
    if name in ("reverse", "forward-ready"):
        assert all(len({t[1] for t in parse_codes(e.question)}) > 1 for e in items)


def parse_codes(hand: str) -> list[str]:
    counts = parse_counts(hand, 13)
    return [f"{i % 9 + 1}{'mpsz'[i // 9]}" for i, c in enumerate(counts) for _ in range(c)]


def test_generation_is_deterministic_under_the_seed():
    assert generate_class("forward-ready", 5, seed=1) == generate_class("forward-ready", 5, seed=1)
    assert generate_class("reverse", 5, seed=1) != generate_class("reverse", 5, seed=2)
    with pytest.raises(ValueError, match="unknown question class"):
        generate_class("easy", 5, seed=1)


def test_splits_follow_the_declared_mixes_and_share_no_hand():
    sp = TASK.make_splits(200, 40, 80, seed=0)
    assert [len(sp[k]) for k in ("train", "val", "test")] == [200, 40, 80]
    assert TASK.class_counts(sp["train"]) == {c: round(200 * w) for c, w in TRAIN_MIX.items()}
    assert TASK.class_counts(sp["test"]) == {c: 20 for c in CLASSES}
    hands = {k: {e.question for e in v} for k, v in sp.items()}
    assert not (hands["train"] & hands["test"]) and not (hands["train"] & hands["val"])
    assert {TASK.class_of(e) for e in sp["test"][:4]} == set(CLASSES)  # interleaved: a prefix keeps the mix
    assert TASK.make_splits(200, 40, 80, seed=0) == sp


def test_train_mix_is_a_task_setting_checked_on_construction():
    task = MahjongTask(train_mix={"not-ready": 1, "single-suit": 1})
    assert task.class_counts(task.make_splits(40, 4, 8, seed=0)["train"]) == {"not-ready": 20, "single-suit": 20}
    with pytest.raises(ValueError, match="train_mix"):
        MahjongTask(train_mix={"chinitsu": 1.0})


def test_none_parses_checks_and_scores_per_class_on_the_mix():
    noten = generate_class("not-ready", 2, seed=0)[0].question
    assert TASK.parse_answer("take none\nAnswer: none") == []
    assert TASK.check(noten, "Answer: none") and TASK.check(noten, []) and not TASK.check(noten, ["1m"])
    ready = generate_class("reverse", 1, seed=0)[0].question
    assert not TASK.check(ready, "Answer: none")
    test = TASK.make_splits(0, 0, 8, seed=2)["test"]
    preds = [[] if TASK.class_of(e) != "single-suit" else e.answer for e in test]  # says none to every ready hand
    s = score_examples(TASK, test, preds)
    assert {k: v.accuracy for k, v in s.by_class.items()} == {
        "forward-ready": 0.0, "not-ready": 1.0, "reverse": 0.0, "single-suit": 1.0,
    }
    assert s.mix == EVAL_MIX and s.mix_accuracy == pytest.approx(0.5)
    assert s.highlights["not_ready_accuracy"] == 1.0 and s.highlights["single_suit_accuracy"] == 1.0
