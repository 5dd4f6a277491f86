"""The canonical prompt, the canonical answer line, and a tolerant answer parser.

Teacher, student and evaluator all see the same prompt; every rationale ends in
the same ``Answer:`` line, and the parser reads what models actually write
(commas or spaces, any order, compact ``14m`` runs, "none" for a hand that is
not ready), returning None when there is no answer to read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stratos.tasks.mahjong.tiles import CODE_TO_INDEX, sort_codes

ANSWER_PREFIX = "Answer:"
NONE_WORD = "none"

PROMPT_TEMPLATE = (
    "Riichi Mahjong wait puzzle. Tiles: 1m-9m (characters), 1p-9p (dots), 1s-9s (bamboo), "
    "1z-7z (winds and dragons). A winning hand is 14 tiles: 4 melds (three of a kind, or a run of "
    "three in one suit) plus 1 pair; a tile already held 4 times cannot be drawn.\n"
    "Hand (13 tiles): {hand}\n"
    "Which tiles complete the hand? End with one line 'Answer: <tiles>' (e.g. 'Answer: 1m 4m'), "
    "or 'Answer: none' if no tile does."
)

# the hand line of the canonical prompt, whatever was written on it
_HAND_LINE = re.compile(r"^Hand \(13 tiles\):[ \t]*(.*?)[ \t]*$", re.MULTILINE)

_NONE_PATTERNS = re.compile(
    r"\b(none|no\s+(winning\s+)?tiles?|no\s+waits?|not\s+(ready|tenpai)|nothing|noten|empty)\b",
    re.IGNORECASE,
)
_GROUP = re.compile(r"([1-9]+)\s*([mpsz])(?![a-z])", re.IGNORECASE)
# a line of an unfinished short rationale is not an answer
_STEP_LINE = re.compile(r"^\s*(try |take |[mpsz] |sevenpairs |orphans )")
_ANSWER_LINE = re.compile(r"answer\s*[:：]?\s*(.*)", re.IGNORECASE)


def prompt(hand: str) -> str:
    """The one canonical prompt for a hand (the same for teacher, student and eval)."""
    return PROMPT_TEMPLATE.format(hand=hand)


def hand_in_prompt(text: str) -> str | None:
    """What is written on the canonical prompt's hand line (unvalidated), or None when ``text`` has none."""
    m = _HAND_LINE.search(text)
    return m.group(1) if m else None


def format_answer(waits: Iterable[str]) -> str:
    """The canonical answer line: ``Answer: 1m 4m``, or ``Answer: none``."""
    codes = sort_codes(waits)
    return f"{ANSWER_PREFIX} {' '.join(codes) if codes else NONE_WORD}"


def _tiles_in(segment: str) -> list[str] | None:
    codes: list[str] = []
    for digits, suit in _GROUP.findall(segment):
        for d in digits:
            code = f"{d}{suit.lower()}"
            if code in CODE_TO_INDEX:
                codes.append(code)
    return sort_codes(codes) if codes else None


def parse_answer(text: str) -> list[str] | None:
    """The sorted wait list in ``text``; ``[]`` for "none"-style answers; None if unreadable.

    Reads the last ``Answer:`` line when there is one (so a rationale's tiles
    are not mistaken for the answer), otherwise the last non-empty line unless
    it is a step of an unfinished rationale.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    segment = None
    for line in reversed(text.strip().splitlines()):
        m = _ANSWER_LINE.search(line)
        if m:
            segment = m.group(1)
            break
    if segment is None:
        segment = next(line for line in reversed(text.strip().splitlines()) if line.strip())
        if _STEP_LINE.match(segment):
            return None
    tiles = _tiles_in(segment)
    if tiles is not None:
        return tiles
    if _NONE_PATTERNS.search(segment):
        return []
    return None
