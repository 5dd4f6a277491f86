"""The solver: which tiles complete a 13-tile hand, and how a 14-tile hand decomposes.

Why it is fast: a standard winning hand is 4 melds + 1 pair, and melds never
cross suits, so the question factors per suit. Every count tuple one suit can
take as "melds only" or "melds + pair" is enumerated once at import (a few
thousand shapes), so testing a suit is a set look-up. For each suit's count
tuple we then memoise (process-wide) which added tile would complete it, and
a hand is four dictionary look-ups plus a little bookkeeping over which suit
holds the pair.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from operator import itemgetter

from stratos.tasks.mahjong.tiles import (
    CODE_TO_INDEX,
    GROUPS_RE,
    STRIP_SEPARATORS,
    SUIT_OFFSET,
    SUIT_SIZE,
    SUITS,
    TILE_CODES,
    parse_counts,
)

Meld = tuple[str, ...]
Decomposition = tuple[Meld, ...]

TERMINALS_HONOURS: tuple[int, ...] = (0, 8, 9, 17, 18, 26, 27, 28, 29, 30, 31, 32, 33)


@dataclass(frozen=True)
class Rules:
    """Which winning forms count. The default is the standard form only (4 melds + pair)."""

    seven_pairs: bool = False
    thirteen_orphans: bool = False

    @classmethod
    def from_name(cls, name: str) -> Rules:
        """``standard``, ``seven-pairs``, ``thirteen-orphans`` or ``all`` (both extras)."""
        table = {
            "standard": cls(),
            "seven-pairs": cls(seven_pairs=True),
            "thirteen-orphans": cls(thirteen_orphans=True),
            "all": cls(seven_pairs=True, thirteen_orphans=True),
        }
        if name not in table:
            raise ValueError(f"unknown rules {name!r}; use one of {', '.join(table)}")
        return table[name]

    @property
    def name(self) -> str:
        if self.seven_pairs and self.thirteen_orphans:
            return "all"
        if self.seven_pairs:
            return "seven-pairs"
        if self.thirteen_orphans:
            return "thirteen-orphans"
        return "standard"


STANDARD = Rules()


_INFO: dict[tuple[tuple[int, ...], bool], tuple[bool, bool, tuple[int, ...], tuple[int, ...]]] = {}


def suit_info(
    c: tuple[int, ...], honours: bool
) -> tuple[bool, bool, tuple[int, ...], tuple[int, ...]]:
    """Memoised facts about one suit's count tuple.

    Returns ``(melds_ok, pair_ok, adds_to_melds, adds_to_pair)``: whether the
    tuple splits into melds only / melds + one pair, and the in-suit indices
    whose addition (when fewer than 4 are held) makes it do so.
    """
    key = (c, honours)
    hit = _INFO.get(key)
    if hit is None:
        hit = _INFO[key] = _suit_info(c, honours)
    return hit


def _shapes(n: int, runs: bool) -> tuple[frozenset[tuple[int, ...]], frozenset[tuple[int, ...]]]:
    """Every count tuple of one suit that is up to 4 melds, and every one that is that plus a pair.

    There are only 2,869 melds-only and 18,874 melds+pair shapes for a numbered suit
    (99 and 399 for honours), so membership in a precomputed set replaces any search.
    """
    kinds = [tuple(3 if k == i else 0 for k in range(n)) for i in range(n)]
    if runs:
        kinds += [tuple(1 if i <= k <= i + 2 else 0 for k in range(n)) for i in range(n - 2)]
    melds = set()
    for r in range(5):
        for combo in itertools.combinations_with_replacement(kinds, r):
            c = tuple(map(sum, zip(*combo, strict=True))) if combo else (0,) * n
            if max(c) <= 4:
                melds.add(c)
    pairs = {m[:i] + (m[i] + 2,) + m[i + 1 :] for m in melds for i in range(n) if m[i] <= 2}
    return frozenset(melds), frozenset(pairs)


_SHAPES = {False: _shapes(9, True), True: _shapes(7, False)}


def _suit_info(
    c: tuple[int, ...], honours: bool
) -> tuple[bool, bool, tuple[int, ...], tuple[int, ...]]:
    melds, pairs = _SHAPES[honours]
    r = sum(c) % 3
    target = melds if r == 2 else pairs if r == 1 else None
    adds: tuple[int, ...] = ()
    if target is not None:
        adds = tuple(
            i for i, x in enumerate(c) if x < 4 and c[:i] + (x + 1,) + c[i + 1 :] in target
        )
    return c in melds, c in pairs, adds if r == 2 else (), adds if r == 1 else ()


def clear_memo() -> None:
    """Forget every memoised suit (for cold-start benchmarks; never needed for correctness)."""
    _INFO.clear()
    _BY_DIGITS.clear()


_SUIT_SLICES = tuple((SUIT_OFFSET[s], SUIT_OFFSET[s] + SUIT_SIZE[s], s == "z") for s in SUITS)


def _combine(
    infos: list[tuple[int, tuple[bool, bool, tuple[int, ...], tuple[int, ...]]]],
) -> list[int]:
    """Waits from per-suit facts ``(offset, suit_info)`` of the suits present (absent suits are empty melds)."""
    out: list[int] = []
    for k, (a, info) in enumerate(infos):
        if not info[2] and not info[3]:
            continue
        # every other suit must split as melds, or melds + the one pair
        pairs = 0
        for j, (_, other) in enumerate(infos):
            if j != k:
                if other[1]:
                    pairs += 1
                elif not other[0]:
                    pairs = 2
                    break
        if pairs < 2:
            out.extend(a + i for i in (info[2] if pairs else info[3]))
    out.sort()
    return out


def standard_waits(counts: list[int]) -> list[int]:
    """Indices completing ``counts`` (13 tiles) into 4 melds + 1 pair."""
    return _combine(
        [(a, suit_info(tuple(counts[a:b]), hz)) for a, b, hz in _SUIT_SLICES if any(counts[a:b])]
    )


# Fast path for the common case: the hand is already grouped by suit ("123m456p...", or spaced and
# sorted). Each suit's digit string maps straight to its memoised facts, so a warm call is a regex
# and four dictionary look-ups. Anything unusual falls back to ``parse_counts`` (which explains errors).
_Entry = tuple[int, tuple[int, ...], tuple[bool, bool, tuple[int, ...], tuple[int, ...]]]
_BY_DIGITS: dict[tuple[str, str], _Entry | None] = {}
_EMPTY = {s: (0,) * SUIT_SIZE[s] for s in SUITS}


def _digits_entry(suit: str, digits: str) -> _Entry | None:
    size = SUIT_SIZE[suit]
    c = [0] * size
    for d in digits:
        n = ord(d) - 49
        if n >= size:
            return None
        c[n] += 1
    if max(c) > 4:
        return None
    t = tuple(c)
    return len(digits), t, suit_info(t, suit == "z")


def _fast_parse(hand: str) -> dict[str, _Entry] | None:
    """Per-suit entries of a well-formed 13-tile hand grouped by suit, or None (use the full parser)."""
    groups = GROUPS_RE.findall(hand.translate(STRIP_SEPARATORS))
    if len(groups) > 4:
        return None
    total = 0
    entries: dict[str, _Entry] = {}
    for digits, suit in groups:
        if suit in entries:
            return None
        key = (suit, digits)
        entry = _BY_DIGITS.get(key)
        if entry is None:
            entry = _BY_DIGITS[key] = _digits_entry(suit, digits)
            if entry is None:
                return None
        total += entry[0]
        entries[suit] = entry
    if total != 13 or len(hand) - hand.count(" ") != total + len(groups):
        return None  # stray characters or the wrong size: the full parser says what is wrong
    return entries


def seven_pairs_waits(counts: list[int]) -> list[int]:
    """Seven-pairs waits: six distinct pairs and a single wait on the single."""
    if counts.count(2) == 6 and counts.count(1) == 1:
        return [counts.index(1)]
    return []


_TH_GET = itemgetter(*TERMINALS_HONOURS)


def thirteen_orphans_waits(counts: list[int]) -> list[int]:
    """Thirteen-orphans waits: all 13 kinds held waits on all 13; 12 kinds + a pair waits on the missing one."""
    held = _TH_GET(counts)
    if sum(held) != 13:
        return []
    if min(held) == 1 and max(held) == 1:
        return list(TERMINALS_HONOURS)
    if held.count(0) == 1 and held.count(2) == 1 and held.count(1) == 11:
        return [TERMINALS_HONOURS[held.index(0)]]
    return []


def waits_of_counts(counts: list[int], rules: Rules = STANDARD) -> list[int]:
    """Wait indices of a validated 13-tile count vector under ``rules``."""
    return _with_extras(standard_waits(counts), counts, rules)


def _with_extras(waits: list[int], counts: list[int], rules: Rules) -> list[int]:
    if rules.seven_pairs or rules.thirteen_orphans:
        extra = set(waits)
        if rules.seven_pairs:
            extra.update(seven_pairs_waits(counts))
        if rules.thirteen_orphans:
            extra.update(thirteen_orphans_waits(counts))
        waits = sorted(extra)
    return waits


def winning_tiles(hand: str, rules: Rules = STANDARD) -> list[str]:
    """The sorted tile codes that complete the 13-tile ``hand``.

    Standard form (4 melds + pair) by default; ``rules`` adds seven pairs and
    thirteen orphans. A tile the hand holds 4 of is never a wait. Raises
    ``ValueError`` on a malformed hand.
    """
    entries = _fast_parse(hand) if isinstance(hand, str) else None
    if entries is not None:
        waits = _combine([(SUIT_OFFSET[s], e[2]) for s, e in entries.items()])
        if rules == STANDARD:
            return [TILE_CODES[i] for i in waits]
        counts = [x for s in SUITS for x in (entries[s][1] if s in entries else _EMPTY[s])]
        return [TILE_CODES[i] for i in _with_extras(waits, counts, rules)]
    counts = parse_counts(hand, 13)
    return [TILE_CODES[i] for i in waits_of_counts(counts, rules)]


def is_winning_counts(counts: list[int], rules: Rules = STANDARD) -> bool:
    """True when a 14-tile count vector is a complete hand under ``rules``."""
    pairs = 0
    for a, b, hz in _SUIT_SLICES:
        m_ok, p_ok, _, _ = suit_info(tuple(counts[a:b]), hz)
        if p_ok:
            pairs += 1
        elif not m_ok:
            pairs = 99
            break
    if pairs == 1:
        return True
    if rules.seven_pairs and sum(1 for c in counts if c == 2) == 7:
        return True
    if rules.thirteen_orphans and sum(counts) == 14:
        if (
            all(counts[i] for i in TERMINALS_HONOURS)
            and sum(counts[i] for i in TERMINALS_HONOURS) == 14
        ):
            return True
    return False


def is_winning(hand14: str, rules: Rules = STANDARD) -> bool:
    """True when the 14-tile ``hand14`` is complete under ``rules``."""
    return is_winning_counts(parse_counts(hand14, 14), rules)


def _meld_splits(c: list[int], start: int) -> list[list[Meld]]:
    """Every multiset of melds using up ``c`` exactly (tiles below ``start`` are gone)."""
    i = start
    while i < 34 and c[i] == 0:
        i += 1
    if i == 34:
        return [[]]
    out: list[list[Meld]] = []
    code = TILE_CODES[i]
    if c[i] >= 3:
        c[i] -= 3
        out += [[(code, code, code), *rest] for rest in _meld_splits(c, i)]
        c[i] += 3
    if i < 27 and i % 9 <= 6 and c[i + 1] and c[i + 2]:
        c[i] -= 1
        c[i + 1] -= 1
        c[i + 2] -= 1
        seq = (code, TILE_CODES[i + 1], TILE_CODES[i + 2])
        out += [[seq, *rest] for rest in _meld_splits(c, i)]
        c[i] += 1
        c[i + 1] += 1
        c[i + 2] += 1
    return out


def decompositions_of_counts(counts: list[int], rules: Rules = STANDARD) -> list[Decomposition]:
    """Every distinct decomposition of a 14-tile count vector (see ``decompositions``)."""
    found: set[Decomposition] = set()
    c = list(counts)
    for i in range(34):
        if c[i] >= 2:
            c[i] -= 2
            pair = (TILE_CODES[i], TILE_CODES[i])
            for melds in _meld_splits(c, 0):
                found.add((pair, *melds))
            c[i] += 2
    if rules.seven_pairs and sum(1 for x in counts if x == 2) == 7:
        found.add(tuple((TILE_CODES[i], TILE_CODES[i]) for i in range(34) if counts[i] == 2))
    if (
        rules.thirteen_orphans
        and is_winning_counts(counts, Rules(thirteen_orphans=True))
        and all(counts[i] for i in TERMINALS_HONOURS)
        and sum(counts) == 14
        and sum(counts[i] for i in TERMINALS_HONOURS) == 14
    ):
        found.add(tuple((TILE_CODES[i],) * counts[i] for i in TERMINALS_HONOURS))
    return sorted(found, key=lambda d: [[CODE_TO_INDEX[t] for t in g] for g in d])


def decompositions(hand14: str, rules: Rules = STANDARD) -> list[Decomposition]:
    """All ways to read the 14-tile ``hand14`` as a winning hand.

    Standard decompositions are ``(pair, meld, meld, meld, meld)`` with melds in
    ascending order; seven pairs is seven 2-tuples; thirteen orphans is the 13
    kinds as groups (the doubled one as a 2-tuple). Empty when not winning.
    """
    return decompositions_of_counts(parse_counts(hand14, 14), rules)
