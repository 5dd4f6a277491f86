"""Rationales: every one verifies, the short style is a closed small vocabulary,
and the checker catches each kind of false claim."""

from __future__ import annotations

import re

import pytest

from stratos.tasks.mahjong import MahjongTask, Rules, rationale_errors, write_rationale
from stratos.tasks.mahjong.rationale import short_vocabulary

SHORT_WORDS = {
    "=",
    ":",
    "|",
    "x",
    "draw",
    "full",
    "take",
    "try",
    "none",
    "m",
    "p",
    "s",
    "z",
    "sevenpairs",
    "orphans",
    "sum",
    "Answer:",
}
TILE = re.compile(r"^[1-9][mps]$|^[1-7]z$")
PAIR = re.compile(r"^([1-9])\1$")


def _items():
    task = MahjongTask()
    return (
        task.generate(300, seed=21)
        + task.generate(150, seed=21, chinitsu=True)
        + task.generate(150, seed=21, mode="forward")
        + task.generate(100, seed=21, min_waits=4)
    )


@pytest.mark.parametrize("style", ["short", "full"])
def test_every_rationale_verifies_and_ends_in_the_answer(style):
    task = MahjongTask()
    for e in _items():
        text = task.rationale(e.question, e.answer, style)
        assert text.splitlines()[-1] == task.format_answer(e.answer)
        assert task.check_rationale(e.question, text) == [], (e.question, text)
        assert task.parse_answer(text) == e.answer


def test_rationales_under_extended_rules_verify():
    task = MahjongTask(rules="all")
    for hand in ("19m19p19s1234567z", "11335577m1199p2s", "119m19p19s123456z", "1112345678999m"):
        for style in ("short", "full"):
            text = task.rationale(hand, None, style)
            assert task.check_rationale(hand, text) == []
            assert task.parse_answer(text) == task.solve(hand)
    text = task.rationale("11335577m1199p2s")
    assert "sevenpairs : 2s" in text and "orphans : x" in text
    assert any(
        "sevenpairs" in e
        for e in task.check_rationale(
            "11335577m1199p2s", text.replace("sevenpairs : 2s", "sevenpairs : 3s")
        )
    )
    assert any(
        "missing" in e
        for e in task.check_rationale("11335577m1199p2s", text.replace("orphans : x\n", ""))
    )
    full = task.rationale("11335577m1199p2s", None, "full")
    assert task.check_rationale(
        "11335577m1199p2s", full.replace("single wait on 2s", "single wait on 3s")
    )
    # under standard rules an extra-form line is a false claim
    assert MahjongTask().check_rationale("11335577m1199p2s", text)


def test_short_style_uses_only_tile_codes_and_a_few_symbols():
    vocab = set(short_vocabulary())
    # tiles, counts 0-14, pair words 22-99 (11 is a count too), symbols
    assert len(vocab) == 34 + 15 + 8 + 17
    for e in _items():
        for tok in write_rationale(e.question, "short").split():
            assert tok in vocab, tok
            assert TILE.match(tok) or tok in SHORT_WORDS or PAIR.match(tok) or int(tok) <= 14, tok


def test_short_rationale_of_a_known_hand():
    """Numbered suits counts-style: counts of 1..9, the base as a trace (a pair word, then the runs
    started at each number; x where it fails), a sum line where the suit holds the pair or takes the tile."""
    assert write_rationale("123m55m234p67s111z").splitlines() == [
        "m 1 1 1 0 2 0 0 0 0 = 5 : 55 1 0 0 0 0 0 0 0 0",
        "sum 1 0 0 0 1 1 1 1 1",
        "p 0 1 1 1 0 0 0 0 0 = 3 : 0 1 0 0 0 0 0 0 0",
        "s 0 0 0 0 0 1 1 0 0 = 2 : x",
        "sum 0 0 0 0 0 0 1 1 1",
        "z 1z 1z 1z = 3 : 1z 1z 1z",
        "take s",
        "try 4s : 0 0 0 1 x",
        "try 5s : 0 0 0 0 1 0 0 0 0",
        "try 6s : 0 0 0 0 0 2 x",
        "try 7s : 0 0 0 0 0 1 1 x",
        "try 8s : 0 0 0 0 0 1 0 0 0",
        "try 9s : 0 0 0 0 0 1 0 x",
        "Answer: 5s 8s",
    ]
    assert "try 6m : full" in write_rationale("1235666678999m")


HAND = "123m55m234p67s111z"
#: The same steps with tile lists and one-token verdicts: still a valid short rationale (a teacher
#: may write it), checked claim by claim like the counts style.
TILE_LIST = "\n".join([
    "m 1m 2m 3m 5m 5m = 5 : 5m 5m | 1m 2m 3m", "p 2p 3p 4p = 3 : 2p 3p 4p", "s 6s 7s = 2 : x",
    "z 1z 1z 1z = 3 : 1z 1z 1z", "take s", "try 4s : x", "try 5s : 5s 6s 7s", "try 6s : x", "try 7s : x",
    "try 8s : 6s 7s 8s", "try 9s : x", "Answer: 5s 8s",
])


TILE_LIST_EDITS = [
    (lambda t: t.replace("Answer: 5s 8s", "Answer: 5s"), "answer"),
    (lambda t: t.replace("Answer: 5s 8s", "5s 8s"), "Answer:"),
    (lambda t: t.replace("try 5s : 5s 6s 7s", "try 5s : 5s 6s 6s"), "does not use exactly"),
    (lambda t: t.replace("try 8s : 6s 7s 8s", "try 8s : x"), "claims no split"),
    (lambda t: t.replace("try 6s : x\n", ""), "not tried"),
    (lambda t: t.replace("take s", "take m s"), "take"),
    (lambda t: t.replace("p 2p 3p 4p = 3", "p 2p 3p 5p = 3"), "tiles"),
    (lambda t: t.replace("= 5 :", "= 6 :"), "count"),
    (lambda t: t.replace("5m 5m | 1m 2m 3m", "1m 2m 3m | 5m 5m 5m"), "does not use exactly"),
    (lambda t: t.replace("z 1z 1z 1z = 3 : 1z 1z 1z\n", ""), "missing"),
]


def test_checker_catches_false_claims_in_full_style():
    good = write_rationale(HAND, "full")
    assert rationale_errors(HAND, good) == []
    assert rationale_errors(HAND, good.replace("splits as 5s 6s 7s", "splits as 5s 6s 8s"))
    assert rationale_errors(
        HAND, good.replace("Try 6s: the suit cannot be split with it. 6s does not win.\n", "")
    )
    assert rationale_errors(HAND, good.replace("Answer: 5s 8s", "Answer: none"))


def test_rationale_refuses_a_wrong_answer_and_unknown_style():
    task = MahjongTask()
    with pytest.raises(ValueError, match="not the wait set"):
        task.rationale(HAND, ["5s"])
    with pytest.raises(ValueError, match="style"):
        task.rationale(HAND, None, "poem")
    assert task.rationale(HAND, ["5s", "8s"], "none") == "Answer: 5s 8s"
    assert Rules().name == "standard"


CHINITSU = "1222367789999m"


def test_single_suit_hands_are_written_counts_style():
    """One numbered suit: counts of 1..9, their running sum of n * count mod 3, then per candidate
    the pair and the runs started at each number."""
    assert write_rationale(CHINITSU).splitlines() == [
        "m 1 3 1 0 0 1 2 1 4 = 13 : draw",
        "sum 1 1 1 1 1 1 0 2 2",
        "take m",
        "try 1m : 99 2 1 x",
        "try 2m : 22 1 1 x",
        "try 3m : 77 1 2 x",
        "try 4m : 99 1 2 x",
        "try 5m : 22 1 0 0 0 1 0 1 0 0",
        "try 6m : 77 1 2 x",
        "try 7m : 99 1 2 x",
        "try 8m : 22 1 0 0 0 0 1 1 0 0",
        "try 9m : full",
        "Answer: 5m 8m",
    ]
    # a failed pair is followed by the next one of its class; no pair of the class held: x alone
    assert "try 2m : 22 0 1 x 55 0 0 0 2 x" in write_rationale("2244556667789m")
    assert "try 1s : 66 2 x" in write_rationale("1356677788889s")
    # the full style keeps the tile lists, and so do honours
    assert "Suit m (characters): 1m 2m 2m 2m" in write_rationale(CHINITSU, "full")
    assert "z 1z 1z 1z = 3 : 1z 1z 1z" in write_rationale("123m55m234p67s111z")
    assert rationale_errors(HAND, write_rationale(HAND).replace("take", "sum 0 0 0\ntake"))


def test_counts_style_accepts_any_true_split():
    """Three runs 123 read as well as three triplets: the checker rebuilds the split from the digits."""
    hand = "1112223334445m"
    text = write_rationale(hand)
    canonical = next(ln for ln in text.splitlines() if ln.startswith("try 5m"))
    assert rationale_errors(hand, text.replace(canonical, "try 5m : 55 3 0 0 0 0 0 0 0 0")) == []


SINGLE_SUIT_EDITS = [
    (lambda t: t.replace("try 5m : 22 1 0 0 0 1 0 1 0 0", "try 5m : x"), "claims no split"),
    (
        lambda t: t.replace("try 8m : 22 1 0 0 0 0 1 1 0 0", "try 8m : 22 1 0 0 0 0 1 x"),
        "trace is",
    ),
    (lambda t: t.replace("try 1m : 99 2 1 x", "try 1m : 99 2 0 x"), "trace is"),
    (lambda t: t.replace("try 1m : 99 2 1 x", "try 1m : 99 2 1 0 0 1 1 0 0 0"), "not a split"),
    (lambda t: t.replace("try 1m : 99 2 1 x", "try 1m : 44 x"), "not held"),
    (lambda t: t.replace("0 1 0 1 0 0\n", "0 1 0 1 0 0 77 1 2 x\n"), "follow the split"),
    (lambda t: t.replace("try 5m : 22 1 0 0", "try 5m : 22 1 q 0"), "unreadable"),
    (lambda t: t.replace("m 1 3 1 0 0 1 2 1 4", "m 1 3 1 0 0 1 2 2 3"), "tiles"),
    (lambda t: t.replace("= 13 :", "= 12 :"), "count"),
    (lambda t: t.replace("sum 1 1 1 1 1 1 0 2 2", "sum 1 1 1 1 1 1 0 2 1"), "sum"),
    (lambda t: t.replace("try 3m : 77 1 2 x\n", ""), "not tried"),
]


MIXED_EDITS = [
    (lambda t: t.replace("p 0 1 1 1 0 0 0 0 0 = 3 : 0 1 0 0 0 0 0 0 0", "p 0 1 1 1 0 0 0 0 0 = 3 : 0 1 x"), "trace is"),
    (lambda t: t.replace("p 0 1 1 1 0 0 0 0 0 = 3 : 0 1 0 0 0 0 0 0 0", "p 0 1 1 1 0 0 0 0 0 = 3 : x"), "splits"),
    (lambda t: t.replace("= 3 : 0 1 0 0 0 0 0 0 0", "= 3 : 22 1 0 0 0 0 0 0 0 0"), "does not fit"),
    (lambda t: t.replace("= 5 : 55 1 0 0 0 0 0 0 0 0", "= 5 : 55 0 0 0 0 0 0 0 0 0"), "not a split"),
    (lambda t: t.replace("sum 1 0 0 0 1 1 1 1 1", "sum 1 0 0 0 1 1 1 1 2"), "sum"),
    (lambda t: t.replace("try 5s : 0 0 0 0 1 0 0 0 0", "try 5s : 0 0 0 0 1 x"), "trace is"),
    (lambda t: t.replace("try 6s : 0 0 0 0 0 2 x", "try 6s : 0 0 0 0 0 2 0 0 0"), "not a split"),
]


@pytest.mark.parametrize(
    ("hand", "good", "edit", "complaint"),
    [(HAND, TILE_LIST, *case) for case in TILE_LIST_EDITS]
    + [(CHINITSU, write_rationale(CHINITSU), *case) for case in SINGLE_SUIT_EDITS]
    + [(HAND, write_rationale(HAND), *case) for case in MIXED_EDITS],
)
def test_checker_catches_false_claims(hand, good, edit, complaint):
    """Each false claim (tile-list style, a single-suit hand counts-style, a mixed hand counts-style)
    is caught with its reason; the true rationale passes."""
    assert rationale_errors(hand, good) == []
    bad = edit(good)
    assert bad != good
    errs = rationale_errors(hand, bad)
    assert errs and any(complaint in e for e in errs), errs


def _suit_vectors(total, size=9):
    """Every count vector of ``total`` tiles over ``size`` numbers, at most 4 of each."""
    if size == 0:
        yield from ([[]] if total == 0 else [])
        return
    for x in range(min(4, total) + 1):
        for rest in _suit_vectors(total - x, size - 1):
            yield [x, *rest]


def test_the_pair_class_and_the_trace_lose_no_split():
    """Over every 14-tile one-suit count vector: the attempts end in a split exactly when the
    suit splits (the mod-3 pair class and the triplet-first trace are exact), and they verify."""
    from stratos.tasks.mahjong import suit_trace
    from stratos.tasks.mahjong.rationale import pair_split

    n = 0
    for c in _suit_vectors(14):
        claim = " ".join(suit_trace.attempts(c))
        assert (claim[-1] != "x") == (pair_split(c, "m") is not None), c
        if n % 50 == 0 and suit_trace.is_trace(claim):  # a bare "x" is checked by the solver
            assert suit_trace.trace_errors(claim, c, "c") == [], c
        n += 1
    assert n > 10_000


@pytest.mark.parametrize("total", [3, 6, 9, 12])
def test_the_melds_only_trace_loses_no_split(total):
    """Over every count vector of a suit of melds only: the trace ends in a split exactly when
    the suit splits into melds, and a split trace verifies."""
    from stratos.tasks.mahjong import suit_trace
    from stratos.tasks.mahjong.rationale import greedy_melds

    for k, c in enumerate(_suit_vectors(total)):
        claim = suit_trace.attempts(c)
        assert (claim[-1] != "x") == (greedy_melds(c, "m") is not None), c
        if k % 20 == 0:
            assert suit_trace.trace_errors(" ".join(claim), c, "c") == [], c
