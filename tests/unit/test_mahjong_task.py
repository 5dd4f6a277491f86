"""MahjongTask as a Task: registry, prompt, tolerant parsing, checking, scoring, knowledge."""

from __future__ import annotations

import pytest

from stratos.exceptions import QuestionError
from stratos.tasks import Example, Task, get_task
from stratos.tasks.mahjong import MahjongTask, format_answer, parse_answer
from stratos.tasks.mahjong.scoring import set_f1


def test_registered_and_implements_the_protocol():
    task = get_task("mahjong")
    assert isinstance(task, MahjongTask) and isinstance(task, Task)
    assert task.name == "mahjong"


def test_prompt_is_canonical_and_names_the_answer_format():
    task = MahjongTask()
    p = task.prompt("9m 9m 9m 8m 7m 6m 5m 4m 3m 2m 1m 1m 1m")
    assert "1112345678999m" in p and "Answer:" in p and "none" in p
    assert p == task.prompt("1112345678999m")
    with pytest.raises(ValueError):
        task.prompt("123m")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: 1m 4m", ["1m", "4m"]),
        ("Answer: 4m, 1m", ["1m", "4m"]),
        ("answer:4m,1m,4m", ["1m", "4m"]),
        ("Answer: 14m 7z", ["1m", "4m", "7z"]),
        ("The waits are 3p and 6p.", ["3p", "6p"]),
        ("m 1m 2m = 2 : x\ntake none\nAnswer: none", []),
        ("Thinking about 5s...\nAnswer: no winning tiles", []),
        ("The hand is not ready.", []),
        ("Answer: 2s\nAnswer: 5s 8s", ["5s", "8s"]),
        ("I have no idea", None),
        ("", None),
        ("Answer: 8z", None),
        ("Answer: 1m4m", ["1m", "4m"]),
        ("Answer: 1M 4M<|end|>", ["1m", "4m"]),
        ("m 1m 2m 3m = 3 : 1m 2m 3m\ntake s\ntry 4s : x", None),
        ("Let me think.\nSo the winning tiles are 3p and 6p.", ["3p", "6p"]),
    ],
)
def test_tolerant_answer_parser(text, expected):
    assert parse_answer(text) == expected


def test_format_and_check():
    task = MahjongTask()
    assert format_answer(["4m", "1m"]) == "Answer: 1m 4m"
    assert format_answer([]) == "Answer: none"
    assert task.check("123m456p789s1122z", ["2z", "1z"])
    assert task.check("123m456p789s1122z", "Answer: 1z 2z")
    assert not task.check("123m456p789s1122z", ["1z"])
    assert not task.check("123m456p789s1122z", ["1z", "1z", "2z"])
    assert not task.check("123m456p789s1122z", "gibberish")
    assert task.check("123m456p789s1z2z3z4z", [])


def test_score_exact_f1_ready_and_breakdowns():
    ex = [
        Example("a", "123m456p789s1122z", ["1z", "2z"], difficulty="medium"),
        Example("b", "1112345678999m", [f"{n}m" for n in range(1, 10)], difficulty="chinitsu"),
        Example("c", "123m456p789s1z2z3z4z", [], difficulty="not-ready"),
        Example("d", "123m456p789s1122z", ["1z", "2z"], difficulty="medium"),
    ]
    preds = [["1z", "2z"], ["1m", "4m", "7m"], [], None]
    s = MahjongTask().score(ex, preds)
    assert s["n"] == 4 and s["accuracy"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx((1 + 2 * (1.0 * 3 / 9) / (1 + 3 / 9) + 1 + 0) / 4)
    assert s["ready_accuracy"] == pytest.approx(0.75) and s["parsed"] == pytest.approx(0.75)
    assert s["by_difficulty"]["medium"]["accuracy"] == pytest.approx(0.5)
    assert s["by_difficulty"]["chinitsu"]["accuracy"] == 0.0
    assert s["by_waits"]["4+"]["n"] == 1 and s["by_waits"]["0"]["accuracy"] == 1.0
    assert set_f1([], []) == 1.0 and set_f1(["1m"], []) == 0.0
    with pytest.raises(ValueError, match="predictions"):
        MahjongTask().score(ex, preds[:2])


def test_knowledge_states_the_rules_and_the_extra_forms_only_when_enabled():
    base = MahjongTask().knowledge()
    for phrase in ("4 melds and 1 pair", "4 copies", "two-sided", "Answer: none", "1z-4z"):
        assert phrase in base
    assert "Seven pairs" not in base
    extended = MahjongTask(rules="all").knowledge()
    assert "Seven pairs" in extended and "Thirteen orphans" in extended


@pytest.mark.parametrize(
    ("hand", "reason"),
    [
        ("123m456p789s112z", "has 12 tiles, expected 13"),
        ("11111m456p789s112z", "5 copies of 1m"),
        ("123m456p789s1128z", "unknown tile 8z"),
        ("123m456p789s11x2z", "unexpected character 'x'"),
        ("", "empty hand"),
    ],
)
def test_validate_question_names_what_makes_a_hand_illegal(hand, reason):
    with pytest.raises(QuestionError, match=reason):
        MahjongTask().validate_question(hand)


def test_a_legal_hand_in_any_spelling_is_accepted_and_read_back_from_its_prompt():
    t = MahjongTask()
    for hand in ("123m456p789s1122z", "1m 2m 3m 4p 5p 6p 7s 8s 9s 1z 1z 2z 2z", "1111m222p333s444z"):
        t.validate_question(hand)
    assert t.question_from_prompt(t.prompt("1z1z2z2z123m456p789s")) == "123m456p789s1122z"
    assert t.question_from_prompt("which tiles complete 123m?") is None
