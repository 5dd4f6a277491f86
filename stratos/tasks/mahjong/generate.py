"""Puzzle generators, deterministic under a seed.

*Reverse* synthesis builds a random winning hand (4 melds + pair, never more
than 4 copies of a tile) and removes one tile: the result is always ready, and
its answer is the full wait set (computed by the solver, not just the tile
that was removed). *Forward* synthesis draws 13 tiles from a shuffled wall, as
at a real table: mostly not ready. Both honour the same difficulty controls.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass

from stratos.tasks.base import Example
from stratos.tasks.mahjong.solver import STANDARD, Rules, waits_of_counts
from stratos.tasks.mahjong.tiles import SUIT_OFFSET, TILE_CODES, canonical
from stratos.tasks.mahjong.wall import ready_draws

NUMERIC = "mps"
DIFFICULTIES = ("not-ready", "easy", "medium", "hard", "expert", "chinitsu")


@dataclass(frozen=True)
class Controls:
    """Difficulty controls shared by both generators.

    ``n_suits``: exact number of numeric suits in the hand (1-3), None = any.
    ``honours``: True = at least one honour tile, False = none, None = either.
    ``chinitsu``: single numeric suit, no honours (the hardest family).
    ``mixed``: never that family (two or more numeric suits, or honours).
    ``min_waits`` / ``max_waits``: bounds on the size of the answer.
    """

    n_suits: int | None = None
    honours: bool | None = None
    chinitsu: bool = False
    mixed: bool = False
    min_waits: int = 0
    max_waits: int | None = None

    def __post_init__(self) -> None:
        if self.n_suits is not None and not 1 <= self.n_suits <= 3:
            raise ValueError(f"n_suits must be 1, 2 or 3, got {self.n_suits}")
        if self.chinitsu and (self.honours or self.n_suits not in (None, 1)):
            raise ValueError("chinitsu means one numeric suit and no honours; drop n_suits/honours")
        if self.mixed and (self.chinitsu or (self.n_suits == 1 and self.honours is False)):
            raise ValueError("mixed means two or more numeric suits or honours; drop chinitsu or n_suits=1/honours=false")
        if self.min_waits < 0 or (self.max_waits is not None and self.max_waits < self.min_waits):
            raise ValueError(
                f"need 0 <= min_waits <= max_waits, got {self.min_waits}..{self.max_waits}"
            )

    @property
    def suits_wanted(self) -> int | None:
        return 1 if self.chinitsu else self.n_suits

    @property
    def honours_wanted(self) -> bool | None:
        return False if self.chinitsu else self.honours

    def accepts(self, counts: list[int], n_waits: int) -> bool:
        """True when a generated hand satisfies every control."""
        if n_waits < self.min_waits or (self.max_waits is not None and n_waits > self.max_waits):
            return False
        suits = sum(1 for s in NUMERIC if any(counts[SUIT_OFFSET[s] : SUIT_OFFSET[s] + 9]))
        has_z = any(counts[27:])
        if self.suits_wanted is not None and suits != self.suits_wanted:
            return False
        if self.mixed and suits == 1 and not has_z:
            return False
        want_z = self.honours_wanted
        return want_z is None or want_z == has_z


def difficulty(counts: list[int], n_waits: int) -> str:
    """The label of a hand: ``chinitsu`` for one numeric suit only, else by the number of waits."""
    suits = [s for s in NUMERIC if any(counts[SUIT_OFFSET[s] : SUIT_OFFSET[s] + 9])]
    if len(suits) == 1 and not any(counts[27:]):
        return "chinitsu"
    return DIFFICULTIES[min(n_waits, 4)]


def _suits_for(rng: random.Random, ctl: Controls) -> tuple[list[str], bool]:
    k = ctl.suits_wanted or rng.choice((1, 2, 2, 3, 3, 3))
    suits = rng.sample(NUMERIC, k)
    want_z = ctl.honours_wanted
    use_z = rng.random() < 0.5 if want_z is None else want_z
    return suits, use_z


def _random_winning(rng: random.Random, suits: list[str], use_z: bool) -> list[int] | None:
    """A random 4-melds + pair count vector over the given suits, or None when counts overflow."""
    counts = [0] * 34
    groups = suits + (["z"] if use_z else [])
    kinds = []
    for _ in range(4):
        g = rng.choice(groups)
        if g == "z":
            kinds.append(("t", 27 + rng.randrange(7)))
        elif rng.random() < 0.7:
            kinds.append(("s", SUIT_OFFSET[g] + rng.randrange(7)))
        else:
            kinds.append(("t", SUIT_OFFSET[g] + rng.randrange(9)))
    g = rng.choice(groups)
    pair = 27 + rng.randrange(7) if g == "z" else SUIT_OFFSET[g] + rng.randrange(9)
    counts[pair] += 2
    for kind, i in kinds:
        if kind == "t":
            counts[i] += 3
        else:
            counts[i] += 1
            counts[i + 1] += 1
            counts[i + 2] += 1
    if max(counts) > 4:
        return None
    return counts


def _reverse_one(
    rng: random.Random, ctl: Controls, rules: Rules
) -> tuple[list[int], list[int]] | None:
    suits, use_z = _suits_for(rng, ctl)
    full = _random_winning(rng, suits, use_z)
    if full is None:
        return None
    held = [i for i, c in enumerate(full) for _ in range(c)]
    full[rng.choice(held)] -= 1
    return full, waits_of_counts(full, rules)


@functools.cache
def _wall(suits: tuple[str, ...], use_z: bool) -> list[int]:
    """Every tile of the given suits (and the honours), 4 copies each: what a forward hand is drawn from."""
    kinds = [SUIT_OFFSET[s] + n for s in suits for n in range(9)] + (list(range(27, 34)) if use_z else [])
    return [i for i in kinds for _ in range(4)]


def _forward_one(
    rng: random.Random, ctl: Controls, rules: Rules
) -> tuple[list[int], list[int]] | None:
    suits, use_z = _suits_for(rng, ctl)
    counts = [0] * 34
    for i in rng.sample(_wall(tuple(suits), use_z), 13):
        counts[i] += 1
    return counts, waits_of_counts(counts, rules)


def _candidates(
    mode: str, seed: int | str, ctl: Controls, rules: Rules
) -> Iterator[tuple[list[int], list[int]] | None]:
    """Endless candidate hands with their waits (None: a failed attempt); forward draws that must be
    ready come from ``wall.ready_draws`` (the same distribution, without asking the solver 500 times each)."""
    name = f"mahjong/{mode}/{seed}"
    if mode == "forward" and ctl.min_waits >= 1:
        yield from ready_draws(name, rules, ctl.suits_wanted, ctl.honours_wanted, mixed=ctl.mixed)
    make = _reverse_one if mode == "reverse" else _forward_one
    rng = random.Random(name)
    while True:
        yield make(rng, ctl, rules)


def generate(
    n: int,
    seed: int | str,
    mode: str = "reverse",
    controls: Controls | None = None,
    rules: Rules = STANDARD,
    unique: bool = True,
    max_tries: int | None = None,
) -> list[Example]:
    """``n`` puzzles with known answers, deterministic under ``seed`` (a number, or a string
    naming a stream of its own, e.g. one per question class).

    ``unique`` drops repeated hands (so a split by hand is a split by item).
    Raises ``ValueError`` when the controls can't be met within ``max_tries``
    attempts (default ``200 * n + 10000``; for forward hands that must be ready, an
    attempt is a ready draw), e.g. forward hands with 5+ waits.
    """
    if mode not in ("reverse", "forward"):
        raise ValueError(f"unknown mode {mode!r}; use 'reverse' or 'forward'")
    ctl = controls or Controls()
    tries = max_tries if max_tries is not None else 200 * n + 10000
    seen: set[str] = set()
    out: list[Example] = []
    for made in _candidates(mode, seed, ctl, rules):
        if len(out) >= n:
            break
        if tries <= 0:
            raise ValueError(
                f"made only {len(out)} of {n} {mode} puzzles meeting {ctl}; "
                "loosen the difficulty controls (e.g. fewer min_waits) or ask for fewer"
            )
        tries -= 1
        if made is None:
            continue
        counts, waits = made
        if not ctl.accepts(counts, len(waits)):
            continue
        hand = canonical(counts)
        if unique:
            if hand in seen:
                continue
            seen.add(hand)
        out.append(
            Example(
                id=f"mahjong-{mode}-{seed}-{len(out):06d}",
                question=hand,
                answer=[TILE_CODES[i] for i in waits],
                difficulty=difficulty(counts, len(waits)),
                source=mode,
                meta={
                    "n_waits": len(waits),
                    "n_suits": sum(
                        1 for s in NUMERIC if any(counts[SUIT_OFFSET[s] : SUIT_OFFSET[s] + 9])
                    ),
                    "honours": any(counts[27:]),
                    "rules": rules.name,
                },
            )
        )
    return out
