"""The checker of step-by-step rationales: every claim a short or full rationale makes, re-checked.

A rationale is read into its claims (``Claims``: suit lines, the ``take`` line, candidate
verdicts, the extra-form lines), then each family of claims is checked against the
solver's procedure (``rationale.solve_steps``). The same code checks the task's own
rationales, the teacher's in injection mode and a student's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stratos.tasks.mahjong import suit_trace
from stratos.tasks.mahjong.answers import parse_answer
from stratos.tasks.mahjong.rationale import Group, Solution, greedy_melds, pair_split, solve_steps
from stratos.tasks.mahjong.solver import STANDARD, Rules, waits_of_counts
from stratos.tasks.mahjong.tiles import CODE_TO_INDEX, SUIT_SIZE, SUITS, TILE_CODES, parse_counts


def _groups(groups: list[Group]) -> str:
    return " | ".join(" ".join(g) for g in groups)


def _is_meld(g: Group) -> bool:
    if len(g) != 3 or len({t[1] for t in g}) != 1:
        return False
    if g[0] == g[1] == g[2]:
        return True
    if g[0][1] == "z":
        return False
    a, b, c = (int(t[0]) for t in g)
    return b == a + 1 and c == a + 2


def split_errors(groups: list[Group], tiles: list[str], pairs: int) -> list[str]:
    """Why ``groups`` is not a split of ``tiles`` into melds plus ``pairs`` pairs (empty when it is)."""
    errs = []
    if sorted(t for g in groups for t in g) != sorted(tiles):
        errs.append(f"split {_groups(groups)} does not use exactly the tiles {' '.join(tiles)}")
    n_pairs = 0
    for g in groups:
        if len(g) == 2 and g[0] == g[1]:
            n_pairs += 1
        elif not _is_meld(g):
            errs.append(f"{' '.join(g)} is neither a meld nor a pair")
    if n_pairs != pairs:
        errs.append(f"split {_groups(groups)} has {n_pairs} pairs, needs {pairs}")
    return errs


def _parse_groups(text: str) -> list[Group]:
    return [g.split() for g in text.split("|") if g.strip()]


def _suit_vector(tiles: list[str]) -> list[int]:
    """Counts of 1..n of one suit's ``tiles``."""
    c = [0] * SUIT_SIZE[tiles[0][1]]
    for t in tiles:
        c[int(t[0]) - 1] += 1
    return c


def _splittable(tiles: list[str], pairs: int) -> bool:
    suit, c = tiles[0][1], _suit_vector(tiles)
    return (
        (pair_split(c, suit) if pairs else greedy_melds(c, suit)) is not None
        if sum(c) % 3 == 2 * pairs
        else False
    )


def _check_verdict(claim: str, tiles: list[str], pairs: int, where: str) -> list[str]:
    claim = claim.strip()
    if claim == "x":
        return (
            [f"{where}: claims no split, but {' '.join(tiles)} splits"]
            if _splittable(tiles, pairs)
            else []
        )
    return [f"{where}: {e}" for e in split_errors(_parse_groups(claim), tiles, pairs)]


@dataclass
class Claims:
    """What a rationale asserts: per suit (tiles, base verdict), per candidate its verdict text,
    the extra-form waits, the ``take`` suits, and format errors met while reading."""

    suits: dict[str, tuple[list[str], str]] = field(default_factory=dict)
    tried: dict[str, str] = field(default_factory=dict)
    extras: dict[str, list[str]] = field(default_factory=dict)
    take: list[str] | None = None
    sums: dict[str, list[str]] = field(default_factory=dict)
    errs: list[str] = field(default_factory=list)


_FULL_SUIT = re.compile(r"^Suit ([mpsz]) \(\w+\): ([^,]*), (\d+) tiles\. (.*)$")
_FULL_TRY = re.compile(r"^Try (\d[mpsz]): (.*)$")


def _full_verdict(rest: str, splits_as: str) -> str:
    """The short-style verdict (``draw``, ``full``, ``x`` or the split) of a full-style sentence."""
    if "needs the drawn tile" in rest:
        return "draw"
    if "all 4 copies" in rest:
        return "full"
    if "cannot be split" in rest:
        return "x"
    return rest.split(splits_as, 1)[-1].split(".")[0]


def read_full(lines: list[str]) -> Claims:
    """The claims of a full-style rationale (its lines before the answer)."""
    out = Claims()
    for ln in lines:
        m = _FULL_SUIT.match(ln)
        if m:
            out.suits[m.group(1)] = (m.group(2).split(), _full_verdict(m.group(4), "It splits as "))
        elif ln.startswith(("Seven pairs:", "Thirteen orphans:")):
            word = "sevenpairs" if ln.startswith("Seven") else "orphans"
            has_waits = " wait" in ln and " on " in ln
            out.extras[word] = ln.split("on ", 1)[1].rstrip(".").split() if has_waits else []
        elif m := _FULL_TRY.match(ln):
            out.tried[m.group(1)] = _full_verdict(m.group(2), "splits as ")
    return out


def read_short(lines: list[str]) -> Claims:
    """The claims of a short-style rationale (its lines before the answer)."""
    out = Claims()
    for ln in lines:
        head, _, claim = ln.partition(" : ")
        toks = head.split()
        if toks in (["sevenpairs"], ["orphans"]):
            out.extras[toks[0]] = [] if claim.strip() == "x" else claim.split()
        elif toks and toks[0] in SUITS and len(toks[0]) == 1 and "=" in toks:
            held = toks[1 : toks.index("=")]
            tiles = suit_trace.counts_tiles(held, toks[0]) or held
            out.suits[toks[0]] = (tiles, claim)
            if toks[-1] != str(len(tiles)):
                out.errs.append(f"suit {toks[0]}: wrong count {toks[-1]}")
        elif toks and toks[0] == "take":
            out.take = toks[1:]
        elif toks and toks[0] == "sum" and out.suits:
            out.sums[list(out.suits)[-1]] = toks[1:]
        elif len(toks) == 2 and toks[0] == "try" and toks[1] in CODE_TO_INDEX:
            out.tried[toks[1]] = claim
    return out


def _answer_errors(last: str, truth: list[str]) -> list[str]:
    given = parse_answer(last) if last.startswith("Answer:") else None
    if given is None:
        return ["the last line is not a readable 'Answer:' line"]
    if given != truth:
        return [f"answer {' '.join(given) or 'none'} but the waits are {' '.join(truth) or 'none'}"]
    return []


def _suit_errors(sol: Solution, claims: Claims) -> list[str]:
    """Each suit line: present, its tiles, its base verdict; no suit the hand lacks; the take line."""
    errs = []
    for st in sol.suits:
        if st.suit not in claims.suits:
            errs.append(f"suit {st.suit} is missing")
            continue
        tiles, claim = claims.suits[st.suit]
        if tiles != st.tiles:
            errs.append(
                f"suit {st.suit}: tiles {' '.join(tiles)} but the hand has {' '.join(st.tiles)}"
            )
        errs += _base_errors(st.suit, st.tiles, claim)
    extra = set(claims.suits) - {st.suit for st in sol.suits}
    if extra:
        errs.append(f"suits {' '.join(sorted(extra))} are not in the hand")
    held = {st.suit: st.tiles for st in sol.suits}
    for suit, sums in claims.sums.items():
        truth = suit_trace.running_sums(_suit_vector(held[suit])) if suit in held and suit != "z" else []
        if sums != truth:
            errs.append(f"suit {suit}: sum {' '.join(sums)}, truth {' '.join(truth) or '(no sum line)'}")
    if claims.take is not None and claims.take != (sol.take or ["none"]):
        errs.append(
            f"take {' '.join(claims.take)} but the tile can go to {' '.join(sol.take) or 'none'}"
        )
    return errs


def _base_errors(suit: str, tiles: list[str], claim: str) -> list[str]:
    """A suit line's base: ``draw`` at 1 more than a multiple of 3 tiles, else a split verdict or trace."""
    where, r = f"suit {suit}", len(tiles) % 3
    if r == 1:
        return [] if claim.strip() == "draw" else [f"{where}: has 1 more than a multiple of 3 tiles, must say draw"]
    if suit_trace.is_trace(claim):
        return suit_trace.trace_errors(claim, _suit_vector(tiles), where)
    return _check_verdict(claim, tiles, 1 if r == 2 else 0, where)


def _extra_errors(sol: Solution, claims: Claims, rules: Rules) -> list[str]:
    """The seven-pairs / thirteen-orphans lines: present exactly when the rules have them, and right."""
    errs = []
    for word, truth, enabled in (
        ("sevenpairs", sol.seven_pairs, rules.seven_pairs),
        ("orphans", sol.thirteen_orphans, rules.thirteen_orphans),
    ):
        claimed = claims.extras.get(word)
        if enabled and claimed is None:
            errs.append(f"the {word} line is missing (the rules include it)")
        elif claimed is not None and (not enabled or claimed != truth):
            errs.append(
                f"{word}: claims {' '.join(claimed) or 'x'}, truth {' '.join(truth or []) or 'x'}"
            )
    return errs


def _candidate_errors(sol: Solution, claims: Claims) -> list[str]:
    """Every candidate the procedure needs was tried, and each verdict holds."""
    errs = []
    suit_tiles = {st.suit: st.tiles for st in sol.suits}
    for cand in sol.candidates:
        if cand.tile not in claims.tried:
            errs.append(f"candidate {cand.tile} was not tried")
            continue
        claim = claims.tried[cand.tile].strip()
        if cand.verdict == "full" or claim == "full":
            if cand.verdict != claim:
                errs.append(f"candidate {cand.tile}: 'full' is wrong")
            continue
        tiles = suit_tiles[cand.tile[1]] + [cand.tile]
        if suit_trace.is_trace(claim):
            errs += suit_trace.trace_errors(claim, _suit_vector(tiles), f"candidate {cand.tile}")
            continue
        errs += _check_verdict(
            claim, tiles, 1 if len(tiles) % 3 == 2 else 0, f"candidate {cand.tile}"
        )
    return errs


def rationale_errors(hand: str, text: str, rules: Rules = STANDARD) -> list[str]:
    """Every wrong claim in a short or full rationale for ``hand`` (empty when all hold).

    Checks the suit lines against the hand (tiles or counts), each witness split tile by
    tile, each counts-style trace step by step (``suit_trace.trace_errors``), each
    ``x``/"cannot" verdict against the solver, that every needed candidate was tried,
    and that the ``Answer:`` line equals the true waits.
    """
    truth = [TILE_CODES[i] for i in waits_of_counts(parse_counts(hand, 13), rules)]
    sol = solve_steps(hand, rules)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return ["empty rationale"]
    read = read_full if any(ln.startswith("Suit ") for ln in lines) else read_short
    claims = read(lines[:-1])
    return (
        _answer_errors(lines[-1], truth)
        + claims.errs
        + _suit_errors(sol, claims)
        + _extra_errors(sol, claims, rules)
        + _candidate_errors(sol, claims)
    )


def is_valid_rationale(hand: str, text: str, rules: Rules = STANDARD) -> bool:
    """True when every claim in ``text`` holds (see ``rationale_errors``)."""
    return not rationale_errors(hand, text, rules)
