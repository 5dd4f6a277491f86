"""``Task``: what Stratos needs from a domain to distil a model for it, and nothing more.

A task generates questions with known answers (so a student can be trained on
data the teacher never saw and every example can be verified), builds the one
canonical prompt, parses free-form model output back into an answer, and checks
it. Those four are abstract; every other ability is declared here with a generic
default that a task overrides when it can do better, so the pipeline calls them
without asking whether they exist. Mahjong (``stratos.tasks.mahjong``) is the
reference implementation; a user adds a domain by subclassing ``Task`` and calling
``register_task``.

Hooks for the data and the report: ``make_splits`` (the train/val/test questions,
e.g. a mix of question classes in stated proportions), ``class_of`` (each
example's class; accuracy is reported per class), ``eval_mix`` (a fixed evaluation
mix the report weighs the classes by), ``highlights`` (the task's own headline
figures), ``vocabulary``/``compact_units`` (a word-level student's tokens) and
``controls`` (generation options the synth CLI offers as flags). Hooks for serving:
``question_from_prompt`` and ``validate_question`` (an illegal question gets a 400).
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from stratos.metrics import Scores

#: Train/val/test fractions of a generated pool (the generic splitter's default).
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass(frozen=True)
class Example:
    """One question with its verified answer.

    ``question`` is the task-specific input (for Mahjong, the hand string);
    ``answer`` is the canonical answer (for Mahjong, the sorted list of waits);
    ``rationale`` is an optional checkable solution ending in the canonical
    answer line; ``source`` says how it was made (``reverse``, ``forward``,
    ``teacher``...); ``difficulty`` is the task's label (the default class).
    """

    id: str
    question: str
    answer: Any
    difficulty: str = "unknown"
    source: str = "unknown"
    rationale: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompactUnits:
    """A compact notation a word-level tokenizer expands to one word per unit.

    A run of ``digits`` followed by one of ``suffixes`` is several units sharing the
    suffix: with suffixes ``"mpsz"``, ``123m`` reads as the three words ``1m 2m 3m``.
    The expansion lives in the student's chat template, so a client sending the
    compact form gets the same tokens as training.
    """

    suffixes: str
    digits: str = "0123456789"

    def expand(self, text: str) -> str:
        """``text`` with every unit run spread into space-separated words (what the template does)."""
        if not (self.digits and self.suffixes):
            return text
        return self._runs.sub(lambda m: "".join(f" {d}{m[2]} " for d in m[1]), text)

    @cached_property
    def _runs(self) -> re.Pattern[str]:
        return re.compile(f"([{re.escape(self.digits)}]+)([{re.escape(self.suffixes)}])")


@dataclass(frozen=True)
class ExampleSize:
    """Mean size of one training example: the canonical prompt and its target (rationale or
    answer line), in characters (what a BPE tokenizer sees, ~4 per token) and in words as a
    word-level student reads them (lines common to every prompt dropped, compact units spread)."""

    prompt_chars: float
    target_chars: float
    prompt_words: float
    target_words: float


_WORD = re.compile(r"\w+|[^\w\s]+")


class Task(ABC):
    """A domain Stratos can distil (see module docstring). Deterministic given its seeds."""

    name: ClassVar[str]
    #: Extra JSONL names for ``question``/``answer`` (alias -> field), e.g. ``{"hand": "question"}``.
    record_aliases: ClassVar[Mapping[str, str]] = {}
    #: The field of a questions file holding the question; None: ``question``, an alias of it,
    #: ``input`` or ``prompt``.
    question_field: ClassVar[str | None] = None
    #: Text after which a rationale commits to a decision; training weights the next token
    #: (``JobSettings.decision_weight``). None: plain SFT.
    decision_marker: ClassVar[str | None] = None
    #: Generation controls ``generate(**controls)`` accepts: name -> help (``stratos synth`` flags).
    controls: ClassVar[Mapping[str, str]] = {}
    #: Compact notation a word-level student's tokenizer expands; None: words as written.
    compact_units: ClassVar[CompactUnits | None] = None
    #: The fixed evaluation mix: class -> weight. The report gives accuracy on it beside the
    #: test split's own accuracy; None: the test split's distribution is the mix.
    eval_mix: ClassVar[Mapping[str, float] | None] = None

    # --- the four every task implements ----------------------------------------------

    @abstractmethod
    def generate(self, n: int, seed: int, mode: str = "reverse", **controls: Any) -> list[Example]:
        """``n`` examples with known answers; ``mode`` is ``reverse`` (answer first) or ``forward``."""

    @abstractmethod
    def prompt(self, question: str) -> str:
        """The one canonical prompt for a question (the same for teacher and student)."""

    @abstractmethod
    def parse_answer(self, text: str) -> Any | None:
        """The answer in ``text`` (tolerant of formatting), or None when unparseable."""

    @abstractmethod
    def check(self, question: str, answer: Any) -> bool:
        """True when ``answer`` is exactly right for ``question`` (decides correctness everywhere)."""

    # --- abilities with generic defaults -------------------------------------------------

    def format_answer(self, answer: Any) -> str:
        """The canonical answer line, e.g. ``Answer: 1m 4m``."""
        return f"Answer: {answer}"

    def knowledge(self) -> str:
        """The domain rules as text a model can be given (knowledge injection); empty: none."""
        return ""

    def rationale(self, question: str, answer: Any, style: str = "short") -> str:
        """A verified solution ending in the answer line; by default just the answer line."""
        return self.format_answer(answer)

    def check_rationale(self, question: str, text: str) -> list[str]:
        """Every wrong claim in a rationale (empty: it is correct, or the task cannot tell)."""
        return []

    def solve(self, question: str) -> Any:
        """The right answer, from the task's rule engine (what the ``rules`` teacher says)."""
        raise NotImplementedError(f"task {self.name!r} has no rule engine")

    @property
    def has_solver(self) -> bool:
        """True when the task overrides ``solve``."""
        return type(self).solve is not Task.solve

    @property
    def has_references(self) -> bool:
        """True when every question's right answer is known; False: the teacher's answers are the
        labels (the job labels the questions by majority vote and calls :meth:`adopt_labels`)."""
        return True

    @property
    def score_name(self) -> str:
        """What the checked score measures, as reports name it (``agreement with teacher`` without references)."""
        return "accuracy"

    def same_answer(self, a: Any, b: Any) -> bool:
        """Whether two parsed answers are the same answer (majority votes group by it)."""
        return bool(a == b)

    def adopt_labels(self, examples: Sequence[Example]) -> None:
        """Take these examples' answers as the references ``check`` compares with (tasks without references)."""
        if not self.has_references:
            raise NotImplementedError(f"task {self.name!r} has no references and cannot adopt labels")

    def question_from_prompt(self, prompt: str) -> str | None:
        """The question a canonical prompt was built from, when the task can recover it."""
        return None

    def validate_question(self, question: str) -> None:
        """Raise ``QuestionError`` (a readable reason) when ``question`` is not a legal question.

        The server checks the question ``question_from_prompt`` finds in a request and answers an
        illegal one with a 400 instead of letting the model guess. Default: every question is legal.
        """
        return None

    def class_of(self, example: Example) -> str:
        """The example's question class (accuracy is reported per class): its difficulty label."""
        return example.difficulty

    def highlights(self, scores: Scores) -> dict[str, float | None]:
        """The task's own headline figures from ``scores`` (flat name -> value); none by default."""
        return {}

    def vocabulary(self) -> list[str]:
        """Words a word-level student's vocabulary always holds (every question stays representable)."""
        return []

    def score(self, examples: Sequence[Example], predictions: Sequence[Any | None]) -> dict[str, Any]:
        """Task-specific metrics beyond checked accuracy (e.g. partial credit); none by default."""
        return {}

    def splits(
        self, examples: Sequence[Example], fractions: tuple[float, float, float] = SPLIT_FRACTIONS
    ) -> dict[str, list[Example]]:
        """Train/val/test by a hash of the question, so no question is in two splits."""
        out: dict[str, list[Example]] = {"train": [], "val": [], "test": []}
        for e in examples:
            u = int(hashlib.sha256(e.question.encode()).hexdigest()[:8], 16) / 16**8
            out["train" if u < fractions[0] else "val" if u < fractions[0] + fractions[1] else "test"].append(e)
        return out

    def make_splits(self, n_train: int, n_val: int, n_test: int, seed: int) -> dict[str, list[Example]]:
        """The job's train/val/test questions: one reverse-synthesised pool through ``splits``.

        Override to make each split as a mix of question classes in stated proportions.
        """
        fr = SPLIT_FRACTIONS
        n = int(max(n_train / fr[0], n_val / fr[1], n_test / fr[2]) * 1.1) + 10
        parts = self.splits(self.generate(n, seed=seed, mode="reverse"), fr)
        return {"train": parts["train"][:n_train], "val": parts["val"][:n_val], "test": parts["test"][:n_test]}

    def example_size(self, style: str = "short", n: int = 64, seed: int = 0) -> ExampleSize:
        """Mean prompt and target size of ``n`` of the job's training examples in its ``style``.

        The planner sizes training (tokens per example) and synthesis (the teacher's prompt and
        answer) from this, not from the serving latency settings. The examples come from
        ``make_splits``, the function the job draws its training split with, so a task whose
        question classes differ in length is sized by the mix the job trains on. Override when
        generating is slow.
        """
        examples = self.make_splits(n, 0, 0, seed=seed)["train"]
        prompts = [self.prompt(e.question) for e in examples]
        targets = [
            self.format_answer(e.answer) if style == "answer" else self.rationale(e.question, e.answer, style=style)
            for e in examples
        ]
        common = set(prompts[0].split("\n")).intersection(*(p.split("\n") for p in prompts[1:])) if prompts else set()
        units = self.compact_units.expand if self.compact_units else (lambda t: t)

        def words(text: str, drop: set[str] = frozenset()) -> int:
            return len(_WORD.findall(units("\n".join(ln for ln in text.split("\n") if ln not in drop))))

        k = max(len(examples), 1)
        return ExampleSize(
            prompt_chars=sum(map(len, prompts)) / k, target_chars=sum(map(len, targets)) / k,
            prompt_words=sum(words(p, common) for p in prompts) / k, target_words=sum(map(words, targets)) / k,
        )

    def class_counts(self, examples: Iterable[Example]) -> dict[str, int]:
        """How many examples of each class (written into reports beside accuracies)."""
        return dict(sorted(Counter(self.class_of(e) for e in examples).items()))


_REGISTRY: dict[str, Callable[[], Task]] = {}


def register_task(name: str, factory: Callable[[], Task]) -> None:
    """Make a task available to the CLI, the planner and the job by name."""
    _REGISTRY[name] = factory


def get_task(name: str) -> Task:
    """The task registered under ``name``; unknown names list the valid ones."""
    from stratos.exceptions import ConfigError, UnknownNameError
    from stratos.names import did_you_mean

    if name not in _REGISTRY:
        _load_builtin()
    if name not in _REGISTRY:
        raise UnknownNameError(
            f"unknown task {name!r}{did_you_mean(name, _REGISTRY)}; known tasks: {', '.join(sorted(_REGISTRY))}. "
            "Register your own with stratos.tasks.register_task(name, factory)."
        )
    task = _REGISTRY[name]()
    if not isinstance(task, Task):
        raise ConfigError(
            f"task {name!r} is a {type(task).__name__}, not a stratos.tasks.Task; subclass Task "
            "(it declares every ability the pipeline uses, with defaults)."
        )
    return task


#: Entry-point group an installed package registers its tasks under (name -> Task subclass or factory).
ENTRY_POINT_GROUP = "stratos.tasks"


def _load_builtin() -> None:
    import stratos.tasks.mahjong  # noqa: F401 - registers itself

    _load_entry_points()


def _load_entry_points() -> None:
    """Register every ``stratos.tasks`` entry point of the installed packages (once each)."""
    from importlib.metadata import entry_points

    from stratos.exceptions import ConfigError

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            continue
        try:
            factory = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin names itself
            raise ConfigError(
                f"entry point {ep.name!r} = {ep.value!r} (group {ENTRY_POINT_GROUP}) fails to import: "
                f"{type(exc).__name__}: {exc}; fix or uninstall the package that declares it"
            ) from None
        register_task(ep.name, factory)


def task_names() -> Iterable[str]:
    _load_builtin()
    return sorted(_REGISTRY)
