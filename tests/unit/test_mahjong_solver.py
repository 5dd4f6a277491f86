"""The solver: exhaustive single-suit check against an independent brute force,
randomised mixed hands against the ``mahjong`` package, parsing errors, rules."""

from __future__ import annotations

import itertools
import random
from functools import cache

import pytest
from mahjong.agari import Agari

from stratos.tasks.mahjong import decompositions, is_winning, parse_counts, winning_tiles
from stratos.tasks.mahjong.solver import Rules, waits_of_counts
from stratos.tasks.mahjong.tiles import TILE_CODES, canonical


@cache
def _brute_complete(c: tuple[int, ...], need_pair: bool, runs: bool) -> bool:
    """Independent checker: try every pair / triplet / run at the first held tile."""
    i = next((k for k, x in enumerate(c) if x), None)
    if i is None:
        return not need_pair
    options = []
    if c[i] >= 3:
        options.append(((i, 3),))
    if runs and i + 2 < len(c) and c[i + 1] and c[i + 2]:
        options.append(((i, 1), (i + 1, 1), (i + 2, 1)))
    for use in options:
        d = list(c)
        for k, n in use:
            d[k] -= n
        if _brute_complete(tuple(d), need_pair, runs):
            return True
    if need_pair and c[i] >= 2:
        d = list(c)
        d[i] -= 2
        if _brute_complete(tuple(d), False, runs):
            return True
    return False


def _brute_waits(c: tuple[int, ...], runs: bool) -> list[int]:
    out = []
    for i in range(len(c)):
        if c[i] < 4:
            d = list(c)
            d[i] += 1
            if _brute_complete(tuple(d), True, runs):
                out.append(i)
    return out


def test_every_single_suit_hand_matches_brute_force():
    """All 93,600 count vectors of 13 tiles in one numbered suit (and all honour-only ones)."""
    n = 0
    for t in itertools.product(range(5), repeat=9):
        if sum(t) != 13:
            continue
        n += 1
        counts = [0] * 9 + list(t) + [0] * 16  # the dots suit, so offsets are exercised
        expected = _brute_waits(t, True)
        assert [i - 9 for i in waits_of_counts(counts)] == expected, canonical(counts)
        if n % 5 == 0:  # the string entry point (its suit-string fast path) on a fifth of them
            assert winning_tiles(canonical(counts)) == [f"{i + 1}p" for i in expected]
    assert n == 93600
    for t in itertools.product(range(5), repeat=7):
        if sum(t) == 13:
            counts = [0] * 27 + list(t)
            assert [i - 27 for i in waits_of_counts(counts)] == _brute_waits(t, False), canonical(
                counts
            )


def _oracle_waits(counts: list[int]) -> list[str]:
    out = []
    for i in range(34):
        if counts[i] < 4:
            counts[i] += 1
            if Agari.is_agari(counts):
                out.append(TILE_CODES[i])
            counts[i] -= 1
    return out


def test_mixed_hands_match_the_mahjong_package():
    """The PyPI ``mahjong`` package's agari check (which knows seven pairs and orphans) as oracle."""
    rng = random.Random(7)
    walls = [
        [i for i in range(34) for _ in range(4)],
        [i for i in range(18) for _ in range(4)] + [i for i in range(27, 34) for _ in range(4)],
        [i for i in (0, 8, 9, 17, 18, 26, *range(27, 34)) for _ in range(4)],  # orphans-heavy
    ]
    ready = 0
    for k in range(3000):
        counts = [0] * 34
        for t in rng.sample(walls[k % 3], 13):
            counts[t] += 1
        got = winning_tiles(canonical(counts), Rules.from_name("all"))
        assert got == _oracle_waits(counts), canonical(counts)
        ready += bool(got)
    from stratos.tasks.mahjong import MahjongTask

    for e in MahjongTask().generate(1500, seed=3):
        counts = parse_counts(e.question)
        assert winning_tiles(e.question, Rules.from_name("all")) == _oracle_waits(counts)
    for _ in range(300):  # seven-pairs and thirteen-orphans shapes, which random walls rarely deal
        counts = [0] * 34
        kinds = rng.sample(range(34), 7)
        for i in kinds[:6]:
            counts[i] = 2
        counts[kinds[6]] += 1
        assert winning_tiles(canonical(counts), Rules.from_name("all")) == _oracle_waits(counts)
        orphans = [0, 8, 9, 17, 18, 26, *range(27, 34)]
        counts = [0] * 34
        for i in orphans:
            counts[i] = 1
        counts[rng.choice(orphans)] += 1
        counts[rng.choice([i for i in orphans if counts[i] == 1])] -= 1
        assert winning_tiles(canonical(counts), Rules.from_name("all")) == _oracle_waits(counts)
    assert ready > 5  # the random walls did produce ready hands to compare


def test_every_spelling_gives_the_same_answer():
    """Compact, spaced, unsorted, mixed-case and comma forms take different parser paths."""
    from stratos.tasks.mahjong import MahjongTask

    rng = random.Random(4)
    for e in MahjongTask().generate(300, seed=9) + MahjongTask().generate(
        300, seed=9, mode="forward"
    ):
        counts = parse_counts(e.question)
        tiles = [TILE_CODES[i] for i, c in enumerate(counts) for _ in range(c)]
        rng.shuffle(tiles)
        for spelling in (" ".join(tiles), ",".join(tiles).upper(), "".join(tiles), e.question):
            assert winning_tiles(spelling) == e.answer
            assert winning_tiles(spelling, Rules.from_name("all")) == waits_of_counts_codes(counts)


def waits_of_counts_codes(counts: list[int]) -> list[str]:
    return [TILE_CODES[i] for i in waits_of_counts(counts, Rules.from_name("all"))]


def test_known_hands():
    assert winning_tiles("1112345678999m") == [f"{n}m" for n in range(1, 10)]
    assert winning_tiles("123m456p789s1122z") == ["1z", "2z"]
    assert winning_tiles("123m456p789s1z2z3z4z") == []
    assert winning_tiles("1m 1m 1m 2m 3m 4m 5m 6m 7m 8m 9m 9m 9m") == winning_tiles(
        "1112345678999m"
    )
    assert winning_tiles("2345m111p222s333z") == ["2m", "5m"]


def test_a_tile_held_four_times_is_never_a_wait():
    # with a fifth 7m the hand would split (66 777 789 888 999 ...), but there are only four
    hand = "6777788889999m"
    assert "7m" not in winning_tiles(hand)
    for e in (
        __import__("stratos.tasks.mahjong", fromlist=["x"]).MahjongTask().generate(2000, seed=5)
    ):
        counts = parse_counts(e.question)
        assert all(counts[TILE_CODES.index(w)] < 4 for w in e.answer)


@pytest.mark.parametrize(
    ("hand", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("123m456p789s112z", "12 tiles"),
        ("123m456p789s11223z", "14 tiles"),
        ("11111m23456789p", "5 copies of 1m"),
        ("123m456p789s1128z", "unknown tile 8z"),
        ("123m456p789s1120z", "red fives"),
        ("123x456p789s1122z", "unexpected character"),
        ("123m456p789s1122", "no suit letter"),
        ("m123456p789s1122z", "without numbers"),
    ],
)
def test_malformed_hands_raise_a_readable_value_error(hand, problem):
    with pytest.raises(ValueError, match=problem):
        winning_tiles(hand)


def test_a_non_string_hand_is_a_value_error():
    with pytest.raises(ValueError, match="string"):
        winning_tiles(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="string"):
        winning_tiles(["1m"] * 13)  # type: ignore[arg-type]


def test_winning_and_decompositions():
    assert is_winning("11123456789999m")
    assert not is_winning("1234567m123p4567s")
    with pytest.raises(ValueError, match="expected 14"):
        is_winning("1112345678999m")
    assert decompositions("11123456789999m") == [
        (
            ("1m", "1m"),
            ("1m", "2m", "3m"),
            ("4m", "5m", "6m"),
            ("7m", "8m", "9m"),
            ("9m", "9m", "9m"),
        )
    ]
    both = decompositions("111222333m444p55s")
    assert len(both) == 2  # three triplets, or three identical runs
    assert (
        ("5s", "5s"),
        ("1m", "2m", "3m"),
        ("1m", "2m", "3m"),
        ("1m", "2m", "3m"),
        ("4p", "4p", "4p"),
    ) in both
    assert decompositions("11223344556677m") == [
        (
            ("1m", "1m"),
            ("2m", "3m", "4m"),
            ("2m", "3m", "4m"),
            ("5m", "6m", "7m"),
            ("5m", "6m", "7m"),
        ),
        (
            ("4m", "4m"),
            ("1m", "2m", "3m"),
            ("1m", "2m", "3m"),
            ("5m", "6m", "7m"),
            ("5m", "6m", "7m"),
        ),
        (
            ("7m", "7m"),
            ("1m", "2m", "3m"),
            ("1m", "2m", "3m"),
            ("4m", "5m", "6m"),
            ("4m", "5m", "6m"),
        ),
    ]
    assert decompositions("1234567m123p4567s") == []


def test_rules_add_seven_pairs_and_thirteen_orphans():
    hand = "11335577m1199p2s"  # pairs 1m 3m 5m 7m 1p 9p + single 2s
    assert winning_tiles(hand) == []
    assert winning_tiles(hand, Rules(seven_pairs=True)) == ["2s"]
    assert is_winning("11335577m1199p22s", Rules(seven_pairs=True))
    assert not is_winning("11335577m1199p22s")
    assert not is_winning(
        "11115577m1199p22s", Rules(seven_pairs=True)
    )  # four of a kind is not two pairs
    orphans = "19m19p19s1234567z"
    assert winning_tiles(orphans) == []
    assert len(winning_tiles(orphans, Rules(thirteen_orphans=True))) == 13
    assert winning_tiles("119m19p19s123456z", Rules(thirteen_orphans=True)) == ["7z"]
    assert decompositions("11335577m1199p22s", Rules(seven_pairs=True))[0][0] == ("1m", "1m")
    assert Rules.from_name("all") == Rules(True, True)
    with pytest.raises(ValueError, match="unknown rules"):
        Rules.from_name("chombo")
