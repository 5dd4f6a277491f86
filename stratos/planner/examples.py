"""Tokens per training example and per teacher call, from the task's own data.

The serving latency settings (``constraints.prompt_tokens``/``output_tokens``) describe
requests to the endpoint, not the training data: training and synthesis are sized from
``Task.example_size`` (the mean prompt and target of generated examples in the job's
``target_style``), in the student's units: words for a word-level (scratch) student, BPE
tokens (``CHARS_PER_TOKEN`` characters each) for a pretrained one and for the teacher.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from stratos.tasks.loading import TaskRef

#: Characters per BPE token: the usual rule of thumb for English and ASCII notation.
CHARS_PER_TOKEN = 4.0
#: Chat-template tokens around one example (role markers, end of turn).
CHAT_TOKENS = 6.0


@dataclass(frozen=True)
class ExampleTokens:
    """Mean tokens of one example's prompt and target."""

    prompt: float
    target: float

    @property
    def total(self) -> float:
        return self.prompt + self.target


@cache
def example_tokens(task: TaskRef, style: str, word_level: bool) -> ExampleTokens:
    """Mean prompt/target tokens of ``task``'s examples in ``style``, as a word-level student
    (``word_level``) or a BPE tokenizer reads them. Cached: the task generates once per process."""
    size = task.load().example_size(style)
    if word_level:
        return ExampleTokens(size.prompt_words + CHAT_TOKENS, size.target_words)
    return ExampleTokens(size.prompt_chars / CHARS_PER_TOKEN + CHAT_TOKENS, size.target_chars / CHARS_PER_TOKEN)


@cache
def knowledge_tokens(task: TaskRef) -> float:
    """BPE tokens of the task's background text (``Task.knowledge``)."""
    return len(task.load().knowledge()) / CHARS_PER_TOKEN


def teacher_prompt_tokens(task: TaskRef, style: str, mode: str, written: float, probes: float) -> float:
    """Mean prompt tokens over the teacher's calls: ``probes`` bare questions and ``written``
    generations, which in injection mode also carry the task's background text."""
    bare = example_tokens(task, style, word_level=False).prompt
    background = knowledge_tokens(task) if mode == "injection" else 0.0
    return bare + background * written / max(written + probes, 1.0)
