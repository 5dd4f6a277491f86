"""``DatasetTask``: a task read from a dataset file, judged by a named checker.

Questions are the dataset's rows; with reference answers every example is
verified against them, without (``checker: none`` or no ``answer_field``) the job
labels the questions with the teacher's majority answer (:meth:`adopt_labels`) and
"accuracy" means agreement with the teacher. Loading validates the whole file, so a
bad row fails ``stratos plan`` and ``pulumi preview`` with its file and line.
"""

from __future__ import annotations

import copy
import hashlib
import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratos.exceptions import ConfigError
from stratos.tasks.base import SPLIT_FRACTIONS, Example, Task
from stratos.tasks.dataset.checkers import ANSWER_PREFIX, Checker, make_checker
from stratos.tasks.dataset.records import Row, read_rows
from stratos.tasks.dataset.spec import DatasetTaskSpec

if TYPE_CHECKING:
    from stratos.metrics import Scores

SPLIT_NAMES = ("train", "val", "test")


class DatasetTask(Task):
    """A task whose questions and references come from a file (see module docstring)."""

    name = "dataset"

    def __init__(self, spec: DatasetTaskSpec, examples: list[Example], where: dict[str, str], knowledge: str) -> None:
        self.spec = spec
        self.name = spec.task_name  # type: ignore[misc] - a dataset task's name is its instance's
        self.question_field = spec.question_field  # type: ignore[misc]
        self.checker: Checker = make_checker(spec.checker)
        self.examples = examples
        self.where = where
        self._knowledge = knowledge
        self._labels: dict[str, Any] = {e.question: e.answer for e in examples if e.answer is not None}

    @property
    def has_references(self) -> bool:
        return self.spec.has_references

    @property
    def score_name(self) -> str:
        return "accuracy" if self.has_references else "agreement with teacher"

    # --- the four every task implements ----------------------------------------------

    def generate(self, n: int, seed: int, mode: str = "reverse", **controls: Any) -> list[Example]:
        """Up to ``n`` of the training split's examples in a seeded order (a dataset makes no new questions)."""
        pool = list(self._split_of("train"))
        random.Random(seed).shuffle(pool)
        return pool[:n]

    def prompt(self, question: str) -> str:
        return f"{self.spec.instructions.strip()}\n\n{question}" if self.spec.instructions.strip() else question

    def parse_answer(self, text: str) -> Any | None:
        return self.checker.parse(text)

    def check(self, question: str, answer: Any) -> bool:
        """The checker's verdict against the question's reference (or adopted label); unknown: wrong."""
        if question not in self._labels or answer is None:
            return False
        return self.checker.same(answer, self._labels[question])

    # --- abilities ---------------------------------------------------------------------

    def format_answer(self, answer: Any) -> str:
        return f"{ANSWER_PREFIX} {self.checker.show(answer)}"

    def knowledge(self) -> str:
        return self._knowledge

    def highlights(self, scores: Scores) -> dict[str, float | None]:
        """Without references the checked accuracy is agreement with the teacher, and is named so."""
        return {} if self.has_references else {"agreement_with_teacher": scores.accuracy}

    def same_answer(self, a: Any, b: Any) -> bool:
        return self.checker.same(a, b)

    def adopt_labels(self, examples: Sequence[Example]) -> None:
        """Take these examples' answers (the teacher's majority) as the references the checker compares with."""
        self._labels.update({e.question: e.answer for e in examples if e.answer is not None})

    def make_splits(self, n_train: int, n_val: int, n_test: int, seed: int) -> dict[str, list[Example]]:
        """The dataset's own splits (``split_field``) or hash splits, each cut to its size."""
        sizes = {"train": n_train, "val": n_val, "test": n_test}
        return {k: list(self._split_of(k))[: sizes[k]] for k in SPLIT_NAMES}

    def _split_of(self, name: str) -> list[Example]:
        if self.spec.split_field:
            return [e for e in self.examples if e.meta.get("split") == name]
        return self.splits(self.examples, SPLIT_FRACTIONS)[name]

    def check_fits(self, context_tokens: int, reserve: int = 32) -> None:
        """``ConfigError`` naming the longest question whose prompt cannot fit ``context_tokens``.

        Tokens are estimated as max(words, UTF-8 bytes / 3): above what BPE tokenizers produce
        for prose, so a question it passes fits; ``reserve`` leaves room for the answer."""
        worst = max(self.examples, key=lambda e: _tokens(self.prompt(e.question)), default=None)
        if worst is not None and _tokens(self.prompt(worst.question)) + reserve > context_tokens:
            raise ConfigError(
                f"{self.where[worst.question]}: field '{self.spec.question_field}' is about "
                f"{_tokens(self.prompt(worst.question))} tokens with the instructions, longer than the student's "
                f"{context_tokens}-token context (less {reserve} for the answer); shorten it or drop the row"
            )


def _tokens(text: str) -> int:
    return max(len(text.split()), len(text.encode()) // 3)


@lru_cache(maxsize=8)
def load_dataset_task(spec: DatasetTaskSpec, stamp: tuple[float, int] | None = None) -> DatasetTask:
    """The task for ``spec``, its whole file validated (``stamp`` keys the cache to the file's mtime and size)."""
    rows = read_rows(spec.dataset)
    if not rows:
        raise ConfigError(f"task.dataset {spec.dataset!r} holds no rows; add questions (one object per line)")
    checker = make_checker(spec.checker)
    examples, where = _examples(spec, checker, rows)
    return DatasetTask(spec, examples, where, _knowledge(spec))


def dataset_task(spec: DatasetTaskSpec) -> DatasetTask:
    """The (cached) task for ``spec``, reloaded when its file changes."""
    path = Path(spec.dataset)
    stamp = (path.stat().st_mtime, path.stat().st_size) if path.is_file() else None
    task = copy.copy(load_dataset_task(spec, stamp))
    task._labels = dict(task._labels)  # adopted labels stay with this copy
    return task


def _knowledge(spec: DatasetTaskSpec) -> str:
    if not spec.knowledge:
        return ""
    path = Path(spec.knowledge)
    if not path.is_file():
        raise ConfigError(f"task.knowledge {spec.knowledge!r}: no such file (relative paths start at the project root)")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"task.knowledge {spec.knowledge!r}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def _field(row: Row, name: str, key: str) -> Any:
    if name not in row.fields:
        raise ConfigError(
            f"{row.where}: no field {name!r} (task.{key}); the row has: {', '.join(map(str, row.fields)) or 'nothing'}"
        )
    return row.fields[name]


def _examples(spec: DatasetTaskSpec, checker: Checker, rows: list[Row]) -> tuple[list[Example], dict[str, str]]:
    """Validated examples (duplicates with the same answer kept once) and each question's row."""
    out: list[Example] = []
    where: dict[str, str] = {}
    seen: dict[str, Example] = {}
    for row in rows:
        question = str(_field(row, spec.question_field, "question_field") or "").strip()
        if not question:
            raise ConfigError(f"{row.where}: field {spec.question_field!r} is empty; every row needs a question")
        answer = None
        if spec.has_references:
            raw = _field(row, spec.answer_field or "", "answer_field")
            try:
                answer = checker.reference(raw)
            except ValueError as exc:
                raise ConfigError(f"{row.where}: field {spec.answer_field!r}: {exc}; fix the answer or the checker") from None
        split = _split(row, spec) if spec.split_field else None
        ex = Example(
            id=hashlib.sha256(question.encode()).hexdigest()[:12], question=question, answer=answer,
            difficulty=split or "all", source="dataset", meta={"split": split} if split else {},
        )
        if question in seen:
            _same_question(seen[question], ex, where[question], row.where, checker)
            continue
        seen[question], where[question] = ex, row.where
        out.append(ex)
    return out, where


def _split(row: Row, spec: DatasetTaskSpec) -> str:
    value = str(_field(row, spec.split_field or "", "split_field")).strip().lower()
    value = {"validation": "val", "dev": "val"}.get(value, value)
    if value not in SPLIT_NAMES:
        raise ConfigError(f"{row.where}: field {spec.split_field!r} is {value!r}; use train, val or test")
    return value


def _same_question(first: Example, again: Example, first_where: str, where: str, checker: Checker) -> None:
    """A repeated question is a bad row when it sits in another split or has another answer."""
    if first.meta.get("split") != again.meta.get("split"):
        raise ConfigError(
            f"{where}: the question of {first_where} again, in split {again.meta.get('split')!r} as well as "
            f"{first.meta.get('split')!r}; a question in two splits leaks the test set: keep one of the rows"
        )
    if first.answer is not None and not checker.same(first.answer, again.answer):
        raise ConfigError(
            f"{where}: the question of {first_where} again with another answer ({again.answer!r} vs "
            f"{first.answer!r}); keep one of the rows"
        )
