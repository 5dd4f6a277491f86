"""The Mahjong wait puzzle: the reference Stratos task.

``winning_tiles(hand)`` is the contract other code relies on (see
ARCHITECTURE.md); ``MahjongTask`` implements the ``Task`` protocol and is
registered as ``mahjong``.
"""

from stratos.tasks.base import register_task
from stratos.tasks.mahjong.answers import format_answer, parse_answer, prompt
from stratos.tasks.mahjong.generate import Controls, generate
from stratos.tasks.mahjong.rationale import write_rationale
from stratos.tasks.mahjong.rationale_check import is_valid_rationale, rationale_errors
from stratos.tasks.mahjong.solver import Rules, decompositions, is_winning, winning_tiles
from stratos.tasks.mahjong.splits import split_examples, split_of
from stratos.tasks.mahjong.task import MahjongTask
from stratos.tasks.mahjong.tiles import canonical_hand, parse_counts

register_task("mahjong", MahjongTask)

__all__ = [
    "Controls",
    "MahjongTask",
    "Rules",
    "canonical_hand",
    "decompositions",
    "format_answer",
    "generate",
    "is_valid_rationale",
    "is_winning",
    "parse_answer",
    "parse_counts",
    "prompt",
    "rationale_errors",
    "split_examples",
    "split_of",
    "winning_tiles",
    "write_rationale",
]
