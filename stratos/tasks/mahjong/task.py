"""``MahjongTask``: the reference implementation of the ``Task`` protocol.

Question = the canonical compact hand (``123m456p789s1122z``); answer = the
sorted list of wait codes (``[]`` when not ready). Everything delegates to the
single-purpose modules beside this one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from stratos.exceptions import QuestionError
from stratos.tasks.base import CompactUnits, Example, Task
from stratos.tasks.mahjong import answers, classes, rationale, rationale_check, scoring
from stratos.tasks.mahjong.generate import Controls, generate
from stratos.tasks.mahjong.knowledge import knowledge
from stratos.tasks.mahjong.solver import Rules, winning_tiles
from stratos.tasks.mahjong.splits import split_examples
from stratos.tasks.mahjong.tiles import canonical_hand, parse_counts

_CONTROL_FIELDS = {f.name for f in dataclasses.fields(Controls)}


class MahjongTask(Task):
    """Which tiles complete this 13-tile hand? (see ``stratos.tasks.base.Task``)."""

    name = "mahjong"
    #: extra JSONL names for question/answer (``stratos eval`` reads ``hand``)
    record_aliases = {"hand": "question", "waits": "answer"}
    #: the short rationale's verdicts follow " : " (``try 5p : x``), the tokens training weights up
    decision_marker = ":"
    controls = {
        "n_suits": "exact number of numbered suits (1-3)",
        "honours": "require (true) or forbid (false) honour tiles",
        "chinitsu": "single-suit puzzles only",
        "mixed": "never single-suit (two or more suits, or honours)",
        "min_waits": "at least this many waits",
        "max_waits": "at most this many waits",
    }
    #: mpsz notation: ``123m`` is the tiles 1m 2m 3m, one word each for a word-level student
    compact_units = CompactUnits(suffixes="mpsz")
    #: the four question classes weighed equally (``classes.EVAL_MIX``)
    eval_mix = classes.EVAL_MIX

    def __init__(self, rules: Rules | str = "standard", train_mix: Mapping[str, float] | None = None) -> None:
        self.rules = Rules.from_name(rules) if isinstance(rules, str) else rules
        mix = dict(train_mix or classes.TRAIN_MIX)
        unknown = set(mix) - set(classes.CLASSES)
        if unknown or not sum(mix.values()) > 0 or min(mix.values()) < 0:
            raise ValueError(
                f"train_mix {mix} needs non-negative weights with a positive sum over the classes "
                f"{', '.join(classes.CLASSES)}"
            )
        self.train_mix = mix

    def generate(self, n: int, seed: int, mode: str = "reverse", **controls: Any) -> list[Example]:
        """``n`` puzzles; controls: ``n_suits``, ``honours``, ``chinitsu``, ``mixed``, ``min_waits``,
        ``max_waits`` (see ``Controls``), ``unique`` (default True), ``max_tries`` and ``rationale``
        (a style name to attach a verified rationale to every item, default none)."""
        style = controls.pop("rationale", None)
        unique = controls.pop("unique", True)
        max_tries = controls.pop("max_tries", None)
        unknown = set(controls) - _CONTROL_FIELDS
        if unknown:
            raise ValueError(
                f"unknown difficulty controls {sorted(unknown)}; valid: {sorted(_CONTROL_FIELDS | {'rationale', 'unique', 'max_tries'})}"
            )
        items = generate(
            n, seed, mode, Controls(**controls), self.rules, unique=unique, max_tries=max_tries
        )
        if style:
            items = [
                dataclasses.replace(e, rationale=self.rationale(e.question, e.answer, style))
                for e in items
            ]
        return items

    def prompt(self, question: str) -> str:
        return answers.prompt(canonical_hand(question, 13))

    def question_from_prompt(self, prompt: str) -> str | None:
        """The hand on the canonical prompt's ``Hand (13 tiles):`` line, as written (maybe illegal)."""
        return answers.hand_in_prompt(prompt)

    def validate_question(self, question: str) -> None:
        """A legal question is 13 tiles in mpsz notation with at most 4 copies of any tile."""
        try:
            parse_counts(question, 13)
        except ValueError as exc:
            raise QuestionError(f"not a legal 13-tile hand: {exc}") from None

    def parse_answer(self, text: str) -> list[str] | None:
        return answers.parse_answer(text)

    def format_answer(self, answer: Any) -> str:
        return answers.format_answer(answer)

    def solve(self, question: str) -> list[str]:
        """The true waits under this task's rules."""
        return winning_tiles(question, self.rules)

    def check(self, question: str, answer: Any) -> bool:
        """True when ``answer`` (a list of codes or answer text) is exactly the wait set."""
        if isinstance(answer, str):
            answer = self.parse_answer(answer)
        if answer is None:
            return False
        return sorted(set(answer)) == sorted(self.solve(question)) and len(set(answer)) == len(
            answer
        )

    def score(
        self, examples: Sequence[Example], predictions: Sequence[Any | None]
    ) -> dict[str, Any]:
        return scoring.score(examples, predictions)

    def knowledge(self) -> str:
        return knowledge(self.rules)

    def rationale(self, question: str, answer: Any = None, style: str = "short") -> str:
        """A verified step-by-step solution; ``answer`` is accepted for the protocol and must
        match the true waits when given (rationales are never conditioned on a wrong answer)."""
        text = rationale.write_rationale(question, style, self.rules)
        if answer is not None and not self.check(question, answer):
            raise ValueError(
                f"answer {answer!r} is not the wait set of {question!r}; rationales are only written for true answers"
            )
        return text

    def vocabulary(self) -> list[str]:
        """The 34 tile codes: every hand is representable."""
        return [f"{r}{s}" for s in "mps" for r in range(1, 10)] + [f"{r}z" for r in range(1, 8)]

    def class_of(self, example: Example) -> str:
        """``reverse``, ``single-suit``, ``forward-ready`` or ``not-ready`` (see ``classes``)."""
        return classes.class_of(example)

    def make_splits(self, n_train: int, n_val: int, n_test: int, seed: int) -> dict[str, list[Example]]:
        """Training questions in the proportions of ``train_mix`` (default ``classes.TRAIN_MIX``); validation and test
        in the fixed evaluation mix, so the job's test accuracy is the mix accuracy."""
        sizes = {"train": n_train, "val": n_val, "test": n_test}
        mixes = {"train": self.train_mix, "val": self.eval_mix, "test": self.eval_mix}
        return classes.mixed_splits(sizes, mixes, seed, self.rules)

    def highlights(self, scores: Any) -> dict[str, float | None]:
        """Single-suit puzzles, not-ready hands and hands with 4+ waits: the hard cases."""
        single = scores.by_class.get("single-suit")
        noten = scores.by_class.get("not-ready")
        four = (scores.task_metrics.get("by_waits") or {}).get("4+") or {}
        return {
            "single_suit_accuracy": single.accuracy if single else None,
            "single_suit_n": single.n if single else 0,
            "not_ready_accuracy": noten.accuracy if noten else None,
            "four_plus_accuracy": four.get("accuracy"),
        }

    def check_rationale(self, question: str, text: str) -> list[str]:
        """Every wrong claim in a rationale (empty when it is fully correct)."""
        return rationale_check.rationale_errors(question, text, self.rules)

    def splits(
        self, examples: Sequence[Example], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> dict[str, list[Example]]:
        """Train/val/test partition that never puts one hand in two splits."""
        return split_examples(examples, fractions)
