"""The solver: which tiles complete a 13-tile hand, and how a 14-tile hand decomposes.

Why it is fast: a standard winning hand is 4 melds + 1 pair, and melds never
cross suits, so the question factors per suit. For each suit's count tuple we
memoise (once per distinct tuple, process-wide) whether it splits into melds
only, into melds + one pair, and which added tile would make it do so. A hand
is then four dictionary look-ups and a little bookkeeping over which suit takes
the pair. Melds-only is decided greedily from the lowest tile (a triplet
first, then sequences for the remainder), which is exact: three identical
sequences equal three triplets, so preferring the triplet never loses a split.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

from stratos.tasks.mahjong.tiles import (
    CODE_TO_INDEX,
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


def melds_only(counts: tuple[int, ...] | list[int], honours: bool) -> bool:
    """True when one suit's counts split into melds (triplets, and sequences unless honours)."""
    c = list(counts)
    n = len(c)
    for i in range(n):
        x = c[i]
        if x == 0:
            continue
        if x >= 3:
            x -= 3
        if x:
            if honours or i + 2 >= n or c[i + 1] < x or c[i + 2] < x:
                return False
            c[i + 1] -= x
            c[i + 2] -= x
    return True


def _with_pair(c: tuple[int, ...] | list[int], honours: bool) -> bool:
    for i, x in enumerate(c):
        if x >= 2:
            rest = list(c)
            rest[i] = x - 2
            if melds_only(rest, honours):
                return True
    return False


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


def _suit_info(
    c: tuple[int, ...], honours: bool
) -> tuple[bool, bool, tuple[int, ...], tuple[int, ...]]:
    total = sum(c)
    r = total % 3
    m_ok = r == 0 and melds_only(c, honours)
    p_ok = r == 2 and _with_pair(c, honours)
    to_m: list[int] = []
    to_p: list[int] = []
    if r:
        for i, x in enumerate(c):
            # a full kind can't be drawn; a tile with no held neighbour (or an unheld honour) stays alone
            if x >= 4 or ((not x) if honours else not any(c[max(0, i - 2) : i + 3])):
                continue
            d = list(c)
            d[i] = x + 1
            if r == 2:
                if melds_only(d, honours):
                    to_m.append(i)
            elif _with_pair(d, honours):
                to_p.append(i)
    return m_ok, p_ok, tuple(to_m), tuple(to_p)


def clear_memo() -> None:
    """Forget every memoised suit (for cold-start benchmarks; never needed for correctness)."""
    _INFO.clear()


_SUIT_SLICES = tuple((SUIT_OFFSET[s], SUIT_OFFSET[s] + SUIT_SIZE[s], s == "z") for s in SUITS)


def standard_waits(counts: list[int]) -> list[int]:
    """Indices completing ``counts`` (13 tiles) into 4 melds + 1 pair."""
    infos = [suit_info(tuple(counts[a:b]), hz) for a, b, hz in _SUIT_SLICES]
    # role of each suit before the draw: 0 = melds, 2 = melds+pair, None = broken or needs the tile
    out: list[int] = []
    for k, (a, _b, _hz) in enumerate(_SUIT_SLICES):
        info = infos[k]
        if not info[2] and not info[3]:
            continue
        # the other three suits must each be melds-only or melds+pair, with pairs counted
        pairs = 0
        ok = True
        for j in range(4):
            if j == k:
                continue
            mj, pj, _, _ = infos[j]
            if pj:
                pairs += 1
            elif not mj:
                ok = False
                break
        if not ok or pairs > 1:
            continue
        adds = info[2] if pairs == 1 else info[3]
        out.extend(a + i for i in adds)
    out.sort()
    return out


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
    waits = standard_waits(counts)
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
