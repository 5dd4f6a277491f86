"""The one interface every teacher implements.

Why one interface: the job probes, aligns and injects without knowing whether
answers come from GPT-4o over HTTP, a local 135M model, or the task's own
rule engine. A teacher turns prompts into texts; everything task-specific
(prompt wording, parsing, checking) stays in the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Teacher(Protocol):
    """Answers prompts. ``generate`` returns ``n`` samples per prompt, in prompt order."""

    name: str
    # The tokenizer identity used for token-level KD (None: no logits available).
    tokenizer_id: str | None

    def load(self) -> None:
        """Be ready to answer: a local model loads its weights here, so the job times loading apart
        from the teacher's calls (the planner prices calls); an API or a rule engine has nothing to load."""
        ...

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = 128,
        seed: int = 0,
    ) -> list[list[str]]:
        """``n`` completions for each prompt (chat-style: the prompt is the user message)."""
        ...
