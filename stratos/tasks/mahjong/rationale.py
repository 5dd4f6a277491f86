"""Step-by-step solutions a small model can execute token by token, and their checker.

The procedure follows the solver's factoring (melds never cross suits):

1. one line per suit held: its tiles, their count, and the suit's *base*:
   a witness split into melds (count = 0 mod 3) or melds + pair (2 mod 3),
   ``x`` when no split exists, or ``draw`` (1 mod 3: it must take the tile);
2. a ``take`` line naming the suits the drawn tile can go to (``none`` when
   the rest of the hand is already broken), a purely local rule on the
   counts and bases above;
3. for each taking suit, one ``try`` line per candidate tile (only tiles within 2 of
   a held tile of that suit, or a held honour): ``full`` when 4 are held,
   ``x`` when the suit plus the tile does not split, else the canonical
   witness (pair first, then melds from the lowest tile, triplet before run);
4. with extended rules, a ``sevenpairs`` / ``orphans`` line (no digits, so a
   tile-expanding chat template leaves them whole);
5. the canonical ``Answer:`` line.

In ``short`` every numbered suit is written counts-style: its line gives the counts of
1..9 and its base as a trace of the split test, a ``sum`` line (when the suit holds the
pair or takes the tile) the running weighted sum mod 3 that names the pairs worth
trying, and each of its ``try`` lines a trace (``suit_trace``), because a one-token split
verdict is where small students fail.

``short`` uses tile codes and a handful of fixed symbols (``= : | x draw
full take try none``, suit letters, counts 0-14, pair words ``11``-``99``); every line starts with a
marker word (suit letter, ``take``, ``try``, ``Answer:``) so its structure
survives tokenizers that drop newlines; ``full`` says the same in
sentences for LLM students; ``none`` is just the answer line. Every claim in
a short or full rationale is re-checked by ``rationale_check.rationale_errors``.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratos.tasks.mahjong import suit_trace
from stratos.tasks.mahjong.answers import format_answer
from stratos.tasks.mahjong.solver import (
    STANDARD,
    Rules,
    seven_pairs_waits,
    thirteen_orphans_waits,
)
from stratos.tasks.mahjong.tiles import (
    CODE_TO_INDEX,
    SUIT_OFFSET,
    SUIT_SIZE,
    SUITS,
    TILE_CODES,
    parse_counts,
)

STYLES = ("short", "full", "none")
#: the fixed words of the short style (besides tile codes and counts 1-14)
SHORT_SYMBOLS = (
    "m",
    "p",
    "s",
    "z",
    "=",
    ":",
    "|",
    "x",
    "draw",
    "full",
    "take",
    "try",
    "none",
    "sevenpairs",
    "orphans",
    "sum",
    "Answer:",
)


def short_vocabulary() -> list[str]:
    """Every whitespace token a short rationale can contain: 34 tile codes, counts 0-14, the pair
    words of the single-suit trace (``11``-``99``), the symbols.

    A tile-level tokenizer for a small student can be built from this list alone.
    """
    counts = [str(n) for n in range(15)]
    return list(TILE_CODES) + counts + list(suit_trace.PAIR_WORDS) + list(SHORT_SYMBOLS)


SUIT_NAMES = {"m": "characters", "p": "dots", "s": "bamboo", "z": "honours"}
Group = list[str]


@dataclass
class SuitStep:
    """One suit's line: its tiles, count and base split (None = impossible, "draw" = needs the tile)."""

    suit: str
    tiles: list[str]
    base: list[Group] | None | str


@dataclass
class CandidateStep:
    """One candidate tile: ``full`` (4 held), a witness split of suit + tile, or None (no split)."""

    tile: str
    verdict: list[Group] | None | str


@dataclass
class Solution:
    """The whole procedure for one hand, rendered by ``render`` and checked by ``rationale_errors``."""

    suits: list[SuitStep]
    take: list[str]
    candidates: list[CandidateStep]
    seven_pairs: list[str] | None
    thirteen_orphans: list[str] | None
    answer: list[str]


def _suit_counts(counts: list[int], suit: str) -> list[int]:
    a = SUIT_OFFSET[suit]
    return list(counts[a : a + SUIT_SIZE[suit]])


def greedy_melds(c: list[int], suit: str) -> list[Group] | None:
    """The canonical melds-only split of one suit (lowest tile first, triplet before run).

    Greedy is exact here: three identical runs use the same tiles as three
    triplets, so taking the triplet first never loses a split.
    """
    c = list(c)
    out: list[Group] = []
    n = len(c)
    for i in range(n):
        code = f"{i + 1}{suit}"
        if c[i] >= 3:
            c[i] -= 3
            out.append([code] * 3)
        x = c[i]
        if x:
            if suit == "z" or i + 2 >= n or c[i + 1] < x or c[i + 2] < x:
                return None
            c[i + 1] -= x
            c[i + 2] -= x
            out += [[code, f"{i + 2}{suit}", f"{i + 3}{suit}"]] * x
            c[i] = 0
    return sorted(out, key=lambda g: [CODE_TO_INDEX[t] for t in g])


def pair_split(c: list[int], suit: str) -> list[Group] | None:
    """The canonical melds + pair split: the lowest workable pair, then ``greedy_melds``."""
    for i, x in enumerate(c):
        if x >= 2:
            rest = list(c)
            rest[i] -= 2
            melds = greedy_melds(rest, suit)
            if melds is not None:
                return [[f"{i + 1}{suit}"] * 2, *melds]
    return None


def candidates_for(c: list[int], suit: str) -> list[int]:
    """In-suit indices worth trying: within 2 of a held tile (numbers) or held (honours)."""
    if suit == "z":
        return [i for i, x in enumerate(c) if x]
    return [i for i in range(9) if any(c[max(0, i - 2) : i + 3])]


def solve_steps(hand: str, rules: Rules = STANDARD) -> Solution:
    """The full procedure for a 13-tile hand (raises ``ValueError`` on a malformed hand)."""
    counts = parse_counts(hand, 13)
    steps: list[SuitStep] = []
    for s in SUITS:
        c = _suit_counts(counts, s)
        n = sum(c)
        if not n:
            continue
        tiles = [f"{i + 1}{s}" for i, x in enumerate(c) for _ in range(x)]
        r = n % 3
        base: list[Group] | None | str = (
            "draw" if r == 1 else (greedy_melds(c, s) if r == 0 else pair_split(c, s))
        )
        steps.append(SuitStep(s, tiles, base))
    take = _take(steps)
    cands: list[CandidateStep] = []
    for s in take:
        c = _suit_counts(counts, s)
        r = sum(c) % 3
        for i in candidates_for(c, s):
            code = f"{i + 1}{s}"
            if c[i] >= 4:
                cands.append(CandidateStep(code, "full"))
                continue
            d = list(c)
            d[i] += 1
            cands.append(CandidateStep(code, pair_split(d, s) if r == 1 else greedy_melds(d, s)))
    winners = {cand.tile for cand in cands if isinstance(cand.verdict, list)}
    sp = [TILE_CODES[i] for i in seven_pairs_waits(counts)] if rules.seven_pairs else None
    to = [TILE_CODES[i] for i in thirteen_orphans_waits(counts)] if rules.thirteen_orphans else None
    winners.update(sp or [])
    winners.update(to or [])
    answer = sorted(winners, key=CODE_TO_INDEX.__getitem__)
    return Solution(steps, take, cands, sp, to, answer)


def _take(steps: list[SuitStep]) -> list[str]:
    """Suits that can receive the drawn tile: exactly one pair overall, every other suit split."""
    r = {st.suit: len(st.tiles) % 3 for st in steps}
    if any(r[st.suit] == 0 and st.base is None for st in steps):
        return []
    ones = [s for s in r if r[s] == 1]
    twos = [s for s in r if r[s] == 2]
    if len(ones) == 1 and not twos:
        return ones
    if not ones and len(twos) == 2:
        bases = {st.suit: st.base for st in steps}
        return [s for s in twos if bases[next(t for t in twos if t != s)] is not None]
    return []


def _groups(groups: list[Group]) -> str:
    return " | ".join(" ".join(g) for g in groups)


def render(sol: Solution, style: str = "short") -> str:
    """The rationale text of a solution in ``style`` (``short``, ``full`` or ``none``)."""
    if style not in STYLES:
        raise ValueError(f"unknown rationale style {style!r}; use one of {', '.join(STYLES)}")
    answer = format_answer(sol.answer)
    if style == "none":
        return answer
    return _render_short(sol, answer) if style == "short" else _render_full(sol, answer)


def _render_short(sol: Solution, answer: str) -> str:
    counts = {st.suit: suit_counts(st) for st in sol.suits}
    lines = []
    for st in sol.suits:
        lines += _short_suit_lines(st, counts[st.suit])
    lines.append("take " + (" ".join(sol.take) if sol.take else "none"))
    for cand in sol.candidates:
        v, c = cand.verdict, counts[cand.tile[1]]
        if c is not None and v != "full":
            d = list(c)
            d[int(cand.tile[0]) - 1] += 1
            v = " ".join(suit_trace.attempts(d))
        lines.append(
            f"try {cand.tile} : {v if isinstance(v, str) else ('x' if v is None else _groups(v))}"
        )
    if sol.seven_pairs is not None:
        lines.append("sevenpairs : " + (" ".join(sol.seven_pairs) or "x"))
    if sol.thirteen_orphans is not None:
        lines.append("orphans : " + (" ".join(sol.thirteen_orphans) or "x"))
    lines.append(answer)
    return "\n".join(lines)


def _short_suit_lines(st: SuitStep, c: list[int] | None) -> list[str]:
    """A suit's short line (tiles or counts, ``= n :``, its base) and a numbered suit's ``sum`` line."""
    n = len(st.tiles)
    if c is None:
        base = st.base if isinstance(st.base, str) else ("x" if st.base is None else _groups(st.base))
        return [f"{st.suit} {' '.join(st.tiles)} = {n} : {base}"]
    base = "draw" if n % 3 == 1 else " ".join(suit_trace.attempts(c))
    line = f"{st.suit} {' '.join(map(str, c))} = {n} : {base}"
    return [line] if n % 3 == 0 else [line, "sum " + " ".join(suit_trace.running_sums(c))]


def suit_counts(st: SuitStep) -> list[int] | None:
    """The counts of 1..9 of a numbered suit (written counts-style, see ``suit_trace``); None for honours."""
    if st.suit == "z":
        return None
    c = [0] * suit_trace.SIZE
    for t in st.tiles:
        c[int(t[0]) - 1] += 1
    return c


def _render_full(sol: Solution, answer: str) -> str:
    lines = [
        "Melds never mix suits, so check each suit on its own. A suit with a multiple of 3 tiles must "
        "split into melds; one with 2 more than a multiple of 3 holds the pair; one with 1 more must take the drawn tile."
    ]
    for st in sol.suits:
        n = len(st.tiles)
        head = f"Suit {st.suit} ({SUIT_NAMES[st.suit]}): {' '.join(st.tiles)}, {n} tiles."
        if st.base == "draw":
            lines.append(f"{head} It needs the drawn tile.")
        elif st.base is None:
            lines.append(
                f"{head} It cannot be split into {'melds' if n % 3 == 0 else 'melds and a pair'}."
            )
        else:
            assert isinstance(st.base, list)
            lines.append(f"{head} It splits as {_groups(st.base)}.")
    if sol.take:
        lines.append(f"The drawn tile can only go to suit {' or '.join(sol.take)}.")
    else:
        lines.append(
            "No suit can take the drawn tile and leave exactly one pair, so no standard win."
        )
    for cand in sol.candidates:
        v = cand.verdict
        if v == "full":
            lines.append(f"Try {cand.tile}: all 4 copies are already held, so it cannot be drawn.")
        elif v is None:
            lines.append(
                f"Try {cand.tile}: the suit cannot be split with it. {cand.tile} does not win."
            )
        else:
            assert isinstance(v, list)
            lines.append(f"Try {cand.tile}: the suit splits as {_groups(v)}. {cand.tile} wins.")
    if sol.seven_pairs is not None:
        lines.append(
            f"Seven pairs: six pairs and a single wait on {' '.join(sol.seven_pairs)}."
            if sol.seven_pairs
            else "Seven pairs: not six distinct pairs and a single, so no."
        )
    if sol.thirteen_orphans is not None:
        lines.append(
            f"Thirteen orphans: waits on {' '.join(sol.thirteen_orphans)}."
            if sol.thirteen_orphans
            else "Thirteen orphans: not twelve or thirteen of the terminal and honour kinds, so no."
        )
    lines.append(answer)
    return "\n".join(lines)


def write_rationale(hand: str, style: str = "short", rules: Rules = STANDARD) -> str:
    """The verified rationale for ``hand``: the steps above, ending in the ``Answer:`` line."""
    return render(solve_steps(hand, rules), style)
