"""``did_you_mean``: the hint every "unknown name" error ends with.

One helper so a misspelt key, task, model or GPU gets the same kind of answer
everywhere: the case-insensitive match when there is one, else the closest names
(``difflib`` similarity), else nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_names(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` valid names close to ``name``; an exact case-insensitive match alone first."""
    choices = sorted({str(v) for v in valid})
    same_case = [v for v in choices if v.lower() == name.lower()]
    if same_case:
        return same_case[:1]
    by_lower = {v.lower(): v for v in choices}
    return [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)]


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"``, ``" (did you mean 'x' or 'y'?)"``, or ``""``."""
    close = close_names(name, valid)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
