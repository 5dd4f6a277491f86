"""Checkers: what "correct" means for a dataset task, named in the stack config.

A checker turns free-form model output into an answer (``parse``), turns the
dataset's reference into the same kind of answer (``reference``; a reference it
cannot read is a bad dataset row, reported at plan time), and compares the two
(``same``). The task uses one checker for the probe, the synthesis filter, the
job's evaluation and ``stratos eval``, so "correct" means one thing everywhere.

Names: ``exact`` (the answer line verbatim), ``normalized`` (case, whitespace and
punctuation folded), ``numeric`` (the last number, equal within 1e-6 relative),
``choice`` (a single option letter A-Z), ``regex:<pattern>`` (the first match, group 1
when the pattern has one, compared normalized), ``json`` (a JSON value, compared as
data), ``none`` (no references: the teacher's answers become the labels).
"""

from __future__ import annotations

import json
import math
import re
import string
from dataclasses import dataclass
from typing import Any

from stratos.exceptions import ConfigError

#: The line a completion commits to its answer with (what ``format_answer`` writes).
ANSWER_PREFIX = "Answer:"
CHECKER_NAMES = ("exact", "normalized", "numeric", "choice", "regex:<pattern>", "json", "none")

_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_CHOICE = re.compile(r"\b([A-Z])\b")
_LEAD_CHOICE = re.compile(r"\(?([A-Za-z])\)?(?:[.):\s]|$)")
_PUNCT = str.maketrans("", "", string.punctuation)


def answer_text(text: str) -> str:
    """The text after the last ``Answer:`` (the whole text, stripped, when there is none)."""
    i = text.rfind(ANSWER_PREFIX)
    tail = text[i + len(ANSWER_PREFIX):] if i >= 0 else text
    lines = [ln.strip() for ln in tail.strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _fold(text: str) -> str:
    return " ".join(text.lower().translate(_PUNCT).split())


@dataclass(frozen=True)
class Checker:
    """Parse, read a reference, compare (see module docstring)."""

    name: str

    @property
    def has_references(self) -> bool:
        return True

    def parse(self, text: str) -> Any | None:
        ans = answer_text(text)
        return ans or None

    def reference(self, raw: Any) -> Any:
        """The dataset's answer as this checker's value; ``ValueError`` when it cannot be read."""
        value = self.parse(f"{ANSWER_PREFIX} {raw}")
        if value is None:
            raise ValueError(f"the {self.name} checker reads no answer in {raw!r}")
        return value

    def same(self, answer: Any, reference: Any) -> bool:
        return answer == reference

    def show(self, answer: Any) -> str:
        """The answer as the canonical answer line writes it."""
        return str(answer)


class Exact(Checker):
    pass


class Normalized(Checker):
    def parse(self, text: str) -> Any | None:
        return _fold(answer_text(text)) or None


class Numeric(Checker):
    def parse(self, text: str) -> float | None:
        found = _NUMBER.findall(answer_text(text))
        if not found:
            return None
        try:
            value = float(found[-1].replace(",", ""))
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    def same(self, answer: Any, reference: Any) -> bool:
        return math.isclose(float(answer), float(reference), rel_tol=1e-6, abs_tol=1e-9)

    def show(self, answer: Any) -> str:
        value = float(answer)
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.12g}"


class Choice(Checker):
    def parse(self, text: str) -> str | None:
        ans = answer_text(text)
        lead = _LEAD_CHOICE.match(ans)
        if lead:
            return lead.group(1).upper()
        found = _CHOICE.findall(ans)
        return found[0] if found else None


@dataclass(frozen=True)
class Regex(Checker):
    pattern: re.Pattern[str] = re.compile("")

    def parse(self, text: str) -> str | None:
        m = self.pattern.search(answer_text(text)) or self.pattern.search(text)
        if m is None:
            return None
        return _fold(m.group(1) if self.pattern.groups else m.group(0)) or None


class Json(Checker):
    def parse(self, text: str) -> Any | None:
        try:
            return json.loads(answer_text(text))
        except ValueError:
            return None

    def reference(self, raw: Any) -> Any:
        if isinstance(raw, str):
            try:
                return json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"the json checker cannot read {raw!r} as JSON ({exc})") from None
        return raw

    def show(self, answer: Any) -> str:
        return json.dumps(answer, sort_keys=True)


class NoReference(Normalized):
    """No references: answers compare normalized, and the labels are the teacher's."""

    @property
    def has_references(self) -> bool:
        return False


_SIMPLE: dict[str, type[Checker]] = {
    "exact": Exact, "normalized": Normalized, "numeric": Numeric, "choice": Choice, "json": Json, "none": NoReference,
}


def make_checker(spec: str) -> Checker:
    """The checker ``spec`` names; ``ConfigError`` naming the valid ones, or the regex's error."""
    if spec.startswith("regex:"):
        try:
            pattern = re.compile(spec[len("regex:"):])
        except re.error as exc:
            raise ConfigError(
                f"checker {spec!r}: the regex does not compile ({exc}); fix the pattern after 'regex:'"
            ) from None
        return Regex(spec, pattern)
    if spec not in _SIMPLE:
        from stratos.names import did_you_mean

        raise ConfigError(
            f"unknown checker {spec!r}{did_you_mean(spec, _SIMPLE)}; use one of: {', '.join(CHECKER_NAMES)}"
        )
    return _SIMPLE[spec](spec)
