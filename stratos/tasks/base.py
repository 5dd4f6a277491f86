"""The ``Task`` protocol: what Stratos needs from a domain to distil a model for it.

A task generates questions with known answers (so a student can be trained on
data the teacher never saw and every example can be verified), builds the one
canonical prompt, parses free-form model output back into an answer, and scores.
Mahjong (``stratos.tasks.mahjong``) is the reference implementation; a user adds
a domain by implementing this protocol and calling ``register_task``.

Optional extras a task may define, read with ``getattr``: ``splits`` (a
leak-free train/val/test partition), ``check_rationale``, ``record_aliases``,
``question_field`` and ``decision_marker`` (the text after which a rationale
commits to a decision; training weights the next token, see
``DistillConfig.decision_weight``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Example:
    """One question with its verified answer.

    ``question`` is the task-specific input (for Mahjong, the hand string);
    ``answer`` is the canonical answer (for Mahjong, the sorted list of waits);
    ``rationale`` is an optional checkable solution ending in the canonical
    ``Answer:`` line; ``source`` says how it was made (``reverse``, ``forward``,
    ``teacher``...).
    """

    id: str
    question: str
    answer: Any
    difficulty: str = "unknown"
    source: str = "unknown"
    rationale: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Task(Protocol):
    """What a domain provides. All methods are deterministic given their seed."""

    name: str

    def generate(self, n: int, seed: int, mode: str = "reverse", **controls: Any) -> list[Example]:
        """``n`` examples with known answers; ``mode`` is ``reverse`` or ``forward``."""
        ...

    def prompt(self, question: str) -> str:
        """The one canonical prompt for a question (the same for teacher and student)."""
        ...

    def parse_answer(self, text: str) -> Any | None:
        """The answer in ``text`` (tolerant of formatting), or None when unparseable."""
        ...

    def check(self, question: str, answer: Any) -> bool:
        """True when ``answer`` is exactly right for ``question``."""
        ...

    def score(self, examples: Sequence[Example], predictions: Sequence[Any | None]) -> dict[str, Any]:
        """Metrics (at least ``accuracy``), with a per-difficulty breakdown."""
        ...

    def knowledge(self) -> str:
        """The domain rules as text a model can be given (knowledge injection)."""
        ...

    def rationale(self, question: str, answer: Any, style: str = "short") -> str:
        """A verified step-by-step solution ending in the canonical answer line."""
        ...

    def format_answer(self, answer: Any) -> str:
        """The canonical answer line, e.g. ``Answer: 1m 4m``."""
        ...


_REGISTRY: dict[str, Callable[[], Task]] = {}


def register_task(name: str, factory: Callable[[], Task]) -> None:
    """Make a task available to the CLI, the planner and the job by name."""
    _REGISTRY[name] = factory


def get_task(name: str) -> Task:
    """The task registered under ``name``; unknown names list the valid ones."""
    from stratos.exceptions import UnknownNameError
    from stratos.names import did_you_mean

    if not _REGISTRY:
        _load_builtin()
    if name not in _REGISTRY:
        _load_builtin()
    if name not in _REGISTRY:
        raise UnknownNameError(
            f"unknown task {name!r}{did_you_mean(name, _REGISTRY)}; known tasks: {', '.join(sorted(_REGISTRY))}. "
            "Register your own with stratos.tasks.register_task(name, factory)."
        )
    return _REGISTRY[name]()


def _load_builtin() -> None:
    import importlib

    for mod in ("stratos.tasks.mahjong",):
        try:
            importlib.import_module(mod)
        except ImportError:  # pragma: no cover - only while a task is being built
            pass


def task_names() -> Iterable[str]:
    _load_builtin()
    return sorted(_REGISTRY)
