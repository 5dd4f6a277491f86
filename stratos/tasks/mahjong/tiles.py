"""Tiles and hands: the 34 tile kinds in mpsz notation, parsing and the canonical form.

A hand is held as a 34-long count vector (index 0-8 = 1m-9m, 9-17 = 1p-9p,
18-26 = 1s-9s, 27-33 = 1z-7z). Parsing accepts the compact form
(``123m456p789s1122z``) and the spaced form (``1m 2m 3m ...``); both reduce to
"digits followed by their suit letter", so one scanner handles them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

SUITS = "mpsz"
#: All 34 tile codes, in index order.
TILE_CODES: tuple[str, ...] = tuple(
    f"{n}{s}" for s in SUITS for n in range(1, (8 if s == "z" else 10))
)
CODE_TO_INDEX: dict[str, int] = {code: i for i, code in enumerate(TILE_CODES)}
SUIT_OFFSET = {"m": 0, "p": 9, "s": 18, "z": 27}
SUIT_SIZE = {"m": 9, "p": 9, "s": 9, "z": 7}
COPIES = 4
_SEPARATORS = " \t\n,;"


_WELL_FORMED = re.compile(r"(?:[1-9]+[mps]|[1-7]+z)+")
GROUPS_RE = re.compile(r"([1-9]+)([mpsz])")
STRIP_SEPARATORS = str.maketrans("", "", _SEPARATORS)


def parse_counts(hand: str, size: int | None = 13) -> list[int]:
    """The 34-long count vector of ``hand``.

    ``size`` is the required number of tiles (13 for a question, 14 for a
    completed hand, None for any). Raises ``ValueError`` naming the problem:
    empty input, an unknown tile or character, digits without a suit letter,
    a fifth copy of a tile, or the wrong number of tiles.
    """
    if not isinstance(hand, str):
        raise ValueError(f"a hand must be a string in mpsz notation, got {type(hand).__name__}")
    text = hand.translate(STRIP_SEPARATORS).lower()
    if _WELL_FORMED.fullmatch(text):  # fast path; the scanner below explains what is wrong
        counts = [0] * 34
        for digits, suit in GROUPS_RE.findall(text):
            base = SUIT_OFFSET[suit] - 49
            for d in digits:
                counts[base + ord(d)] += 1
        if max(counts) <= COPIES and (size is None or sum(counts) == size):
            return counts
    if not text:
        raise ValueError("empty hand: give tiles in mpsz notation, e.g. '123m456p789s1122z'")
    counts = [0] * 34
    pending: list[str] = []
    for ch in text:
        if "1" <= ch <= "9":
            pending.append(ch)
        elif ch in SUIT_OFFSET:
            if not pending:
                raise ValueError(f"suit letter {ch!r} without numbers before it in {hand!r}")
            base, limit = SUIT_OFFSET[ch], SUIT_SIZE[ch]
            for d in pending:
                n = ord(d) - 48
                if n > limit:
                    raise ValueError(f"unknown tile {d}{ch} in {hand!r}: honours are 1z-7z")
                counts[base + n - 1] += 1
            pending.clear()
        elif ch in _SEPARATORS:
            continue
        elif ch == "0":
            raise ValueError(
                f"unknown tile digit 0 in {hand!r}: red fives are not supported, write 5"
            )
        else:
            raise ValueError(
                f"unexpected character {ch!r} in {hand!r}: use digits 1-9 and suits m, p, s, z"
            )
    if pending:
        raise ValueError(
            f"digits {''.join(pending)!r} at the end of {hand!r} have no suit letter (m, p, s or z)"
        )
    for i, c in enumerate(counts):
        if c > COPIES:
            raise ValueError(
                f"{c} copies of {TILE_CODES[i]} in {hand!r}: there are only 4 of each tile"
            )
    total = sum(counts)
    if size is not None and total != size:
        raise ValueError(f"hand {hand!r} has {total} tiles, expected {size}")
    return counts


def canonical(counts: Sequence[int]) -> str:
    """The compact sorted form of a count vector, e.g. ``123m456p789s1122z``."""
    parts = []
    for s in SUITS:
        base = SUIT_OFFSET[s]
        digits = "".join(str(n + 1) * counts[base + n] for n in range(SUIT_SIZE[s]))
        if digits:
            parts.append(digits + s)
    return "".join(parts)


def canonical_hand(hand: str, size: int | None = None) -> str:
    """``hand`` in canonical compact form (validated; any tile count when ``size`` is None)."""
    return canonical(parse_counts(hand, size))


def tiles_of(counts: Sequence[int]) -> list[str]:
    """The tile codes of a count vector, sorted, one entry per tile."""
    return [TILE_CODES[i] for i, c in enumerate(counts) for _ in range(c)]


def counts_of(codes: Iterable[str]) -> list[int]:
    """The count vector of an iterable of tile codes (no size check)."""
    counts = [0] * 34
    for code in codes:
        counts[CODE_TO_INDEX[code]] += 1
    return counts


def spaced(counts: Sequence[int]) -> str:
    """The spaced form of a count vector: ``1m 1m 2m ...``."""
    return " ".join(tiles_of(counts))


def sort_codes(codes: Iterable[str]) -> list[str]:
    """Tile codes sorted in index order (m, p, s, z), duplicates removed."""
    return sorted(set(codes), key=CODE_TO_INDEX.__getitem__)


def suit_of(index: int) -> str:
    """The suit letter of a tile index."""
    return SUITS[min(index // 9, 3)]
