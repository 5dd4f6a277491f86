"""Teacher-student matching rules: which pairs and modes are considered, and why.

The rules, each with the sentence the plan prints:
1. Size ratio: the teacher must have at least ``MIN_RATIO`` x the student's parameters
   (a smaller teacher has nothing to teach); token-level KD additionally needs the ratio
   to stay within ``KD_MAX_RATIO`` (past a large capacity gap, logit KD stops helping:
   Mirzadeh et al., "Improved Knowledge Distillation via Teacher Assistant", 2020), else
   the pair distils through data only.
2. Tokenizer: logit KD needs the same tokenizer family and local teacher weights (an API
   returns no full logits).
3. Latency: the student must meet the latency target on the serving GPU (the latency
   estimator enforces it per serving offering).
4. Domain coverage: a teacher whose expected probe accuracy on the task reaches the probe
   threshold can be aligned to; otherwise only knowledge injection is possible, which is
   always available because the task provides verified questions and answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratos.zoo.registry import ModelSpec

MIN_RATIO = 2.0
KD_MAX_RATIO = 100.0

RULES = [
    f"size ratio: teacher >= {MIN_RATIO:g}x student parameters; logit KD only up to {KD_MAX_RATIO:g}x (capacity gap)",
    "tokenizer: logit KD only when teacher and student share a tokenizer family and the teacher runs locally (not an API)",
    "latency: the student must meet max_latency_ms on the serving offering (prefill compute-bound, decode bandwidth-bound)",
    "coverage: alignment only when the teacher's expected probe accuracy >= probe_threshold; injection is always possible",
]


@dataclass(frozen=True)
class Match:
    """A teacher-student pair that passed the rules, with the modes it allows."""

    teacher: ModelSpec
    student: ModelSpec
    modes: tuple[str, ...]
    kd_possible: bool


def size_ratio(teacher: ModelSpec, student: ModelSpec) -> float:
    return teacher.params / max(student.params, 1.0)


def kd_possible(teacher: ModelSpec, student: ModelSpec) -> bool:
    """Rules 1 and 2: same tokenizer family, local weights, ratio within the KD window."""
    return (
        not teacher.is_api
        and teacher.tokenizer == student.tokenizer
        and size_ratio(teacher, student) <= KD_MAX_RATIO
    )


def default_mode(teacher: ModelSpec, task: str, threshold: float) -> str:
    """Rule 4: alignment when the teacher covers the task, else injection."""
    return "alignment" if teacher.task_coverage(task) >= threshold else "injection"


def match(
    teacher: ModelSpec, student: ModelSpec, task: str, threshold: float, mode_override: str | None = None
) -> Match | None:
    """The pair's allowed modes, or None when rule 1 rejects it."""
    if teacher.id == student.id or size_ratio(teacher, student) < MIN_RATIO:
        return None
    dflt = default_mode(teacher, task, threshold)
    if mode_override:
        modes: tuple[str, ...] = (mode_override,)
    elif dflt == "alignment":
        modes = ("alignment", "injection")
    else:
        modes = ("injection",)
    return Match(teacher, student, modes, kd_possible(teacher, student))
